import type { Notifier } from '../../../kit/notifier.js';

/** Longest a waiter sleeps before it re-reads anyway, by default: a safety net for a notification lost while the LISTEN connection was down. */
export const RECHECK_MS = 5_000;

/**
 * Runs the asynchronous `check` until it returns a value or the deadline
 * passes, waiting on `key` in between. Unlike the SQLite store's longPoll,
 * the check awaits the database, so a writer can commit while it runs.
 *
 * MARK ([pg-speed], issue #31). Each turn takes the notifier's mark before
 * its check starts; a check that finds nothing is followed, with no await
 * in between, by notifiedSince(key, mark) and, unless a wake-up for `key`
 * (or for every key) came since the mark, by the turn's subscription. A
 * writer's wake-up (this gateway's, after its commit; another gateway's
 * NOTIFY, after its commit) therefore either lands after the mark, and the
 * next turn checks again at once ('woken'), or before it, and the check,
 * which started after it, sees the commit. Before, the wait was
 * registered before the check (a subscription, a timer and a closure per
 * turn, cancelled by most polls, whose first check answers under load).
 *
 * Each turn's wait is a notifier subscription (a callback and a timer), and
 * the caller's signal has one listener for the whole poll, added at its
 * first wait: an AbortController per turn, with its listeners, was 3–4 % of
 * a busy gateway's CPU.
 */
export async function longPollAsync<T>(
  notifier: Notifier,
  key: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  check: (why: 'first' | 'woken' | 'recheck') => Promise<T | undefined>,
  recheckMs = RECHECK_MS,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  let turn: Turn | undefined;
  const gone = (): boolean => signal?.aborted === true;
  const onAbort = (): void => turn?.end(false);
  // Listened to from the first wait on: a poll whose first check answers (most, under load) adds no listener at all.
  let listening = false;
  try {
    for (let why: 'first' | 'woken' | 'recheck' = 'first'; ; ) {
      const remaining = deadline - Date.now();
      const mark = notifier.mark;
      const found = await check(why);
      if (found !== undefined) return found;
      if (remaining <= 0 || gone() || notifier.isClosed) return undefined; // the caller must not touch a closing store
      if (notifier.notifiedSince(key, mark)) {
        why = 'woken'; // MARK above: a commit the check may not have seen
        continue;
      }
      if (!listening && signal !== undefined) {
        signal.addEventListener('abort', onAbort, { once: true }); // not aborted: gone() just said so, with no await since
        listening = true;
      }
      const current = new Turn();
      turn = current;
      current.cancel = notifier.subscribe(key, Math.min(Math.max(deadline - Date.now(), 0), recheckMs), (woken) => current.end(woken));
      try {
        const wasWoken = await current.outcome();
        if (!wasWoken && notifier.isClosed) return undefined;
        if (gone()) return undefined; // gone while waiting: no read for nobody (it used to check once more)
        why = wasWoken ? 'woken' : 'recheck';
      } finally {
        current.end(false);
      }
    }
  } finally {
    if (listening) signal?.removeEventListener('abort', onAbort);
  }
}

/** One turn's wait: ends once (woken, timed out, the caller gone, or the turn over); outcome() is awaited only when needed. */
class Turn {
  cancel: (() => void) | undefined;
  #result: boolean | undefined;
  #waiter: ((woken: boolean) => void) | undefined;

  end(woken: boolean): void {
    if (this.#result !== undefined) return;
    this.#result = woken;
    this.cancel?.();
    this.cancel = undefined;
    this.#waiter?.(woken);
  }

  outcome(): Promise<boolean> {
    return this.#result !== undefined ? Promise.resolve(this.#result) : new Promise((resolve) => (this.#waiter = resolve));
  }
}
