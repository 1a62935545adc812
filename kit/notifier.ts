/**
 * In-process wake-ups for long-polls: waiters keyed by topic (an inbox, a
 * state key, the event log), woken by the writer after its commit. No timer
 * polls the database; a waiter costs one closure and one timeout.
 *
 * Race-freedom relies on the caller checking the data and calling wait()
 * without an await in between: a writer on the same event loop cannot commit
 * in that gap, and one that commits later finds the waiter registered.
 */
export class Notifier {
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;
  /** Wake-ups so far (notify and notifyAll), and per topic the count at its last one: see mark and notifiedSince. */
  #count = 0;
  readonly #lastByKey = new Map<string, number>();
  /** The count at the last notifyAll (or when #lastByKey was forgotten, which counts as one). */
  #allAt = 0;

  /**
   * [pg-speed] A mark for notifiedSince(), taken before a check that awaits
   * (backends/coord/pg/long-poll.ts): the check runs with no waiter
   * registered and no timer armed, and only a caller whose check found
   * nothing subscribes, after asking whether a wake-up came meanwhile.
   */
  get mark(): number {
    return this.#count;
  }

  /** Whether `key` was notified, or every key was, after `mark` was taken. */
  notifiedSince(key: string, mark: number): boolean {
    return this.#allAt > mark || (this.#lastByKey.get(key) ?? 0) > mark;
  }

  /**
   * Resolves true when `key` is notified, false when `timeoutMs` passes, the
   * signal aborts or the notifier closes. Never rejects.
   */
  wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || timeoutMs <= 0 || signal?.aborted === true) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        cancel();
        resolve(false);
      };
      const cancel = this.subscribe(key, timeoutMs, (woken) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(woken);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * wait() as a callback ([pg-speed], issue #31): `done` runs once, with true
   * when `key` is notified and false when `timeoutMs` passes or the notifier
   * closes; the function returned cancels it (`done` then never runs). No
   * promise and no AbortSignal per wait: a PostgreSQL long-poll registers one
   * per turn (backends/coord/pg/long-poll.ts), and an AbortController per
   * turn was 3–4 % of a busy gateway's CPU. `done` may run synchronously if
   * the notifier is closed.
   */
  subscribe(key: string, timeoutMs: number, done: (woken: boolean) => void): () => void {
    if (this.closed || timeoutMs <= 0) {
      done(false);
      return () => undefined;
    }
    let set = this.waiters.get(key);
    if (set === undefined) {
      set = new Set();
      this.waiters.set(key, set);
    }
    const waiters = set;
    const remove = (): void => {
      clearTimeout(timer);
      waiters.delete(wake);
      if (waiters.size === 0 && this.waiters.get(key) === waiters) this.waiters.delete(key);
    };
    const wake = (): void => {
      remove();
      done(!this.closed);
    };
    const timer = setTimeout(() => {
      remove();
      done(false);
    }, timeoutMs);
    waiters.add(wake);
    return remove;
  }

  /** Wakes every waiter of `key`. */
  notify(key: string): void {
    this.#count += 1;
    if (this.#lastByKey.size >= MARKED_KEYS && !this.#lastByKey.has(key)) {
      // Forgetting the topics' counts answers "notified" to every mark taken before: a spare check, never a missed one.
      this.#lastByKey.clear();
      this.#allAt = this.#count;
    }
    this.#lastByKey.set(key, this.#count);
    const set = this.waiters.get(key);
    if (set === undefined) return;
    for (const wake of [...set]) wake();
  }

  /** Wakes every waiter of every key: after a gap in which notifications may have been lost (a LISTEN connection reopened), each re-checks. */
  notifyAll(): void {
    this.#count += 1;
    this.#allAt = this.#count;
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Number of waiters (all keys); for stats and tests. */
  get size(): number {
    let total = 0;
    for (const set of this.waiters.values()) total += set.size;
    return total;
  }

  /** Wakes everyone with false and refuses new waits. Idempotent. */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
    this.waiters.clear();
  }
}

/** Topics whose last wake-up a Notifier remembers for notifiedSince() before it starts again (inboxes, state keys, events). */
const MARKED_KEYS = 10_000;

/** Notifier topics. NUL separates parts so no id or channel name can forge another key. */
export const topics = {
  inbox: (channel: string, agentId: string): string => `inbox\0${channel}\0${agentId}`,
  state: (channel: string, key: string): string => `state\0${channel}\0${key}`,
  events: 'events',
} as const;

/**
 * Runs `check` until it returns a value or the deadline passes, waiting on
 * `key` in between. `check` must be synchronous with respect to the writers
 * that notify `key` (see the class comment); it returns undefined for "not yet".
 */
export async function longPoll<T>(
  notifier: Notifier,
  key: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  check: () => T | undefined,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = check();
    if (found !== undefined) return found;
    const remaining = deadline - Date.now();
    if (remaining <= 0 || signal?.aborted === true) return undefined;
    const woken = await notifier.wait(key, remaining, signal);
    if (!woken && notifier.isClosed) return undefined; // the caller must not touch a closing store
  }
}
