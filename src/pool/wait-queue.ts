/** One queued caller: settle it with what it waited for, or with why not. */
export interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

interface Entry<T> extends Waiter<T> {
  timer: NodeJS.Timeout;
}

/** Why a wait ended without a value: the queue was full, or the time ran out. */
export interface WaitErrors {
  full: (waiting: number) => Error;
  timedOut: () => Error;
}

/**
 * Callers waiting, first come first served, for something to free up (a
 * slot on a pooled connection). At most `max` wait at once; each waits at
 * most `timeoutMs`.
 */
export class WaitQueue<T> {
  readonly #entries: Entry<T>[] = [];
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #errors: WaitErrors;

  constructor(max: number, timeoutMs: number, errors: WaitErrors) {
    this.#max = max;
    this.#timeoutMs = timeoutMs;
    this.#errors = errors;
  }

  get length(): number {
    return this.#entries.length;
  }

  /** Waits to be handed a value by take(); rejects at once when `max` callers already wait. */
  wait(): Promise<T> {
    if (this.#entries.length >= this.#max) return Promise.reject(this.#errors.full(this.#entries.length));
    return new Promise<T>((resolve, reject) => {
      const entry: Entry<T> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.#entries.indexOf(entry);
          if (at !== -1) this.#entries.splice(at, 1);
          reject(this.#errors.timedOut());
        }, this.#timeoutMs),
      };
      this.#entries.push(entry);
    });
  }

  /** The longest-waiting caller, off the queue and no longer timed; undefined when none waits. */
  take(): Waiter<T> | undefined {
    const entry = this.#entries.shift();
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    return entry;
  }

  /** Ends every wait with `error`. */
  rejectAll(error: Error): void {
    for (let waiter = this.take(); waiter !== undefined; waiter = this.take()) waiter.reject(error);
  }
}
