/** SQLSTATEs of a statement PostgreSQL rolled back and that may simply run again: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);

/** What a call whose caller left while it waited rejects with (CallGroup.call). */
export const CALLER_GONE = new Error('the caller went away before the call left for the database');

/** How many calls of one kind may be at the database at once, and how many one batch carries at most. */
export interface GroupLimits {
  inFlight: number;
  batch: number;
}

/**
 * One call of each kind at the database at a time (sends and polls are one
 * kind since schema 11: message-calls.ts), 64 per batch. Measured
 * against two at a time in one coord-pg run (interleaved, load 11–14): one
 * gateway 695 against 626 messages/s, with less CPU per message in the
 * gateway (553 against 695 µs) and in PostgreSQL (468 against 518 µs):
 * larger batches, fewer statements. The price: two calls of one kind that
 * arrive together take two flushes one after the other instead of sharing
 * one, and a call that waits for a lock holds up the others of its kind on
 * this gateway until it has it (every lock on these paths is held for one
 * statement's length).
 */
export const GROUP_LIMITS: GroupLimits = { inFlight: 1, batch: 64 };

interface Waiting<I, O> {
  item: I;
  signal: AbortSignal | undefined;
  resolve: (out: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for one hot function call of the PostgreSQL store
 * ([pg-speed], issue #31). A call goes to the database at once while fewer
 * than `inFlight` of its kind are there; otherwise it waits, and when one
 * of those returns, everything waiting (up to `batch`) goes together as one
 * call of the batch function: one transaction, one commit and one WAL flush
 * for all of them (pg/batch-functions.ts), instead of one each. Under no
 * load a call goes alone, at once, as before; under load the calls that
 * would have queued for the WAL flush anyway share it.
 *
 * Every caller is answered after the commit that holds its call, with its
 * own row. A batch the database refused as a whole (an error, not a
 * refusal row) rejects each of its calls with that error; a deadlock or
 * serialization failure (rolled back, nothing done) runs again first.
 */
export class CallGroup<I, O> {
  readonly #waiting: Waiting<I, O>[] = [];
  #inFlight = 0;

  constructor(
    private readonly one: (item: I) => Promise<O>,
    private readonly many: (items: I[]) => Promise<O[]>,
    private readonly limits: GroupLimits = GROUP_LIMITS,
  ) {}

  /**
   * Runs `item`, alone or in a batch. A call whose `signal` has aborted while
   * it waited does not go: it rejects with CALLER_GONE ([pg-speed]: a poll
   * whose caller left in the wait must not move the cursor over what it
   * would have read).
   */
  call(item: I, signal?: AbortSignal): Promise<O> {
    if (this.#inFlight < this.limits.inFlight && this.#waiting.length === 0) {
      this.#inFlight += 1;
      // [pg-speed] The caller gets the call's own promise; the next batch leaves from a reaction on it (registered first, so
      // it goes before the caller's continuation runs), not from a .finally() that adds two promises and two turns per call.
      const out = this.one(item);
      out.then(this.#after, this.#after);
      return out;
    }
    return new Promise<O>((resolve, reject) => this.#waiting.push({ item, signal, resolve, reject }));
  }

  /** #next as a reaction (one function for the group, not a closure per call). */
  readonly #after = (): void => this.#next();

  /** One call of this kind returned: the waiting ones go now, together. */
  #next(): void {
    this.#inFlight -= 1;
    const batch: Waiting<I, O>[] = [];
    while (batch.length < this.limits.batch && this.#waiting.length > 0) {
      const w = this.#waiting.shift() as Waiting<I, O>;
      if (w.signal?.aborted === true) w.reject(CALLER_GONE);
      else batch.push(w);
    }
    if (batch.length === 0) return;
    this.#inFlight += 1;
    // Each caller is answered first, then the next batch leaves (resolve and reject do not throw).
    if (batch.length === 1) {
      const w = batch[0] as Waiting<I, O>;
      this.one(w.item).then(w.resolve, w.reject).then(this.#after);
      return;
    }
    const items = batch.map((w) => w.item);
    retried(() => this.many(items))
      .then(
        (outs) => {
          for (const [i, w] of batch.entries()) w.resolve(outs[i] as O);
        },
        (error: unknown) => {
          for (const w of batch) w.reject(error);
        },
      )
      .then(this.#after);
  }
}

/**
 * The parameters of a batch function from its elements' parameter lists:
 * one array per parameter, except those at `single` (the same for every
 * element of this store, such as the event buffer size), taken from the first.
 */
export function columns(list: unknown[][], single: readonly number[]): unknown[] {
  const first = list[0] ?? [];
  return first.map((value, i) => (single.includes(i) ? value : list.map((p) => p[i])));
}

async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt < 5 && typeof code === 'string' && RETRYABLE.has(code)) continue;
      throw error;
    }
  }
}
