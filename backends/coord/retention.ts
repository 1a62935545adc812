import type { CoordOptions } from './options.js';
import type { CoordLogger } from './store.js';
import { sweepTimer } from './sweep-timer.js';
import type { PruneReport } from './types.js';

/*
 * Retention ([coordination] message_retention*, task_retention*): messages
 * and finished tasks past their age or their per-channel count are deleted
 * by a background sweep, whether or not their recipients read them (a
 * message kept until read would let one agent that never polls grow the
 * store without bound). Pending and claimed tasks, state, agents, channels,
 * claims and threads are not pruned here (events and agents have their own
 * rules). Each engine deletes one batch of at most retention_batch rows per
 * call, each in its own short write transaction; between batches the event
 * loop runs the calls that queued, so a big prune never blocks them.
 */

/** An engine's batches: each deletes at most `budget` rows past retention at time `at` and returns how many it deleted. */
export interface RetentionBatches {
  messages(at: number, budget: number): number | Promise<number>;
  tasks(at: number, budget: number): number | Promise<number>;
}

/** The cutoffs of the rules at `at`: undefined for a rule turned off (0). */
export function retentionCutoffs(options: CoordOptions, at: number): { messagesBefore?: number; tasksBefore?: number } {
  return {
    ...(options.message_retention > 0 ? { messagesBefore: at - options.message_retention * 1000 } : {}),
    ...(options.task_retention > 0 ? { tasksBefore: at - options.task_retention * 1000 } : {}),
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
    const ages = [options.message_retention, options.task_retention].filter((age) => age > 0);
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
    const done: PruneReport = { messages: 0, tasks: 0 };
    const budget = this.options.retention_batch;
    for (const kind of ['messages', 'tasks'] as const) {
      for (;;) {
        if (this.isClosed()) return done;
        const deleted = await this.batches[kind](this.now(), budget);
        done[kind] += deleted;
        if (deleted < budget) break;
        // Calls that queued meanwhile run before the next batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (done.messages + done.tasks > 0) this.logger?.info({ ...done }, 'retention pruned messages and finished tasks');
    return done;
  }
}
