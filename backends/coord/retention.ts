import type { CoordOptions } from './options.js';
import type { CoordLogger } from './store.js';
import { sweepTimer } from './sweep-timer.js';
import type { PruneReport } from './types.js';

/*
 * Retention ([coordination] message_retention*, task_retention*,
 * claim_retention, thread_retention): messages and finished tasks past their
 * age or their per-channel count, ended work claims and ended threads past
 * their age are deleted by a background sweep, whether or not their
 * recipients read them (a message kept until read would let one agent that
 * never polls grow the store without bound). Pending and claimed tasks, live
 * claims, open and proposed threads, state, agents and channels are not
 * pruned here (events and agents have their own rules). Each engine deletes
 * one batch of at most retention_batch rows (threads: threads, each with its
 * messages) per call, each in its own short write transaction; between
 * batches the event loop runs the calls that queued, so a big prune never
 * blocks them.
 */

/** An engine's batches: each deletes at most `budget` rows past retention at time `at` and returns how many it deleted. */
export interface RetentionBatches {
  messages(at: number, budget: number): number | Promise<number>;
  tasks(at: number, budget: number): number | Promise<number>;
  claims(at: number, budget: number): number | Promise<number>;
  threads(at: number, budget: number): number | Promise<number>;
}

/** Work claims that ended (released or expired); their end is released_at, or expires_at for an expired one. */
export const ENDED_CLAIM = `status IN ('released', 'expired')`;
/** The time a claim ended (the expression the work_claims_ended index is on). */
export const CLAIM_ENDED_AT = 'COALESCE(released_at, expires_at)';
/** Threads that ended: resolved, closed or cancelled; aged by updated_at, their last change. */
export const ENDED_THREAD = `status IN ('resolved', 'closed', 'cancelled')`;

/** The cutoffs of the rules at `at`: undefined for a rule turned off (0). */
export function retentionCutoffs(
  options: CoordOptions,
  at: number,
): { messagesBefore?: number; tasksBefore?: number; claimsBefore?: number; threadsBefore?: number } {
  return {
    ...(options.message_retention > 0 ? { messagesBefore: at - options.message_retention * 1000 } : {}),
    ...(options.task_retention > 0 ? { tasksBefore: at - options.task_retention * 1000 } : {}),
    ...(options.claim_retention > 0 ? { claimsBefore: at - options.claim_retention * 1000 } : {}),
    ...(options.thread_retention > 0 ? { threadsBefore: at - options.thread_retention * 1000 } : {}),
  };
}

/** Runs retention passes: on a timer (every half the shortest age, between 50 ms and 30 s), or when asked. */
export class RetentionSweep {
  private running: Promise<PruneReport> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly batches: RetentionBatches,
    private readonly options: CoordOptions,
    private readonly now: () => number,
    private readonly isClosed: () => boolean,
    private readonly logger: CoordLogger | undefined,
  ) {
    const ages = [options.message_retention, options.task_retention, options.claim_retention, options.thread_retention].filter((age) => age > 0);
    this.timer = sweepTimer(Math.min(60, ...ages), () => {
      this.prune().catch((err: unknown) => this.logger?.warn({ err }, 'retention pass failed; the next one tries again'));
    });
  }

  /** One pass over every rule, in batches; joins the pass already running. */
  prune(): Promise<PruneReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async pass(): Promise<PruneReport> {
    const done: PruneReport = { messages: 0, tasks: 0, claims: 0, threads: 0 };
    const budget = this.options.retention_batch;
    for (const kind of ['messages', 'tasks', 'claims', 'threads'] as const) {
      for (;;) {
        if (this.isClosed()) return done;
        const deleted = await this.batches[kind](this.now(), budget);
        done[kind] += deleted;
        if (deleted < budget) break;
        // Calls that queued meanwhile run before the next batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (done.messages + done.tasks + done.claims + done.threads > 0) this.logger?.info({ ...done }, 'retention pruned old messages, tasks, claims or threads');
    return done;
  }
}
