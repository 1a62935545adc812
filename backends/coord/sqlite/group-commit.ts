import type { Database, Transaction } from 'better-sqlite3';
import { CoordError } from '../errors.js';

interface Queued {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit: the writes queued during one turn of the event loop share one
 * BEGIN IMMEDIATE … COMMIT (flushed from setImmediate, so every request that
 * arrived in that turn joins). Each write runs in its own savepoint, so one
 * that throws undoes only its own changes and rejects only its own promise.
 * Every promise settles after the COMMIT returned: an answer never precedes
 * durability, and a COMMIT that fails rejects the whole group.
 *
 * The work functions run synchronously inside the flush, in queue order, so
 * ids (messages, events) grow in the order the writes were queued.
 */
export class GroupCommit {
  private queue: Queued[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly group: Transaction<(batch: Queued[]) => Outcome[]>;

  /** `inside` runs the batch once the transaction has begun (the read cache checks itself there). */
  constructor(
    db: Database,
    private readonly isClosed: () => boolean,
    inside: <T>(work: () => T) => T = (work) => work(),
  ) {
    // Called inside the group's transaction, a better-sqlite3 transaction function is a savepoint.
    const savepoint = db.transaction((work: () => unknown) => work());
    this.group = db.transaction((batch: Queued[]): Outcome[] =>
      inside(() =>
        batch.map((item): Outcome => {
          try {
            return { ok: true, value: savepoint(item.work) };
          } catch (error) {
            return { ok: false, error };
          }
        }),
      ),
    );
  }

  /** Runs `work` in the next group; resolves with its result once the group is committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits what is queued now (the store's close() calls this before closing the handle). */
  flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    if (this.isClosed()) {
      const refusal = new CoordError('UNAVAILABLE', 'The coordination store closed before this write was committed; nothing was written. Retry shortly.');
      for (const item of batch) item.reject(refusal);
      return;
    }
    let outcomes: Outcome[];
    try {
      outcomes = this.group.immediate(batch);
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i] as Outcome;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }
}
