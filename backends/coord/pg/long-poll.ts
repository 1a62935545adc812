import type { Notifier } from '../../../kit/notifier.js';

/** Longest a waiter sleeps before it re-reads anyway, by default: a safety net for a notification lost while the LISTEN connection was down. */
export const RECHECK_MS = 5_000;

/** The reason our own aborts carry: abort() without one builds a DOMException with a stack each time (a few % of a busy gateway's CPU). */
const DONE = new Error('long-poll wait ended');

/**
 * Runs the asynchronous `check` until it returns a value or the deadline
 * passes, waiting on `key` in between. Unlike the SQLite store's longPoll,
 * the check awaits the database, so a writer can commit while it runs: the
 * wait is registered before the check starts, and a wake-up that arrives
 * during the check ends the following wait at once.
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
  for (let why: 'first' | 'woken' | 'recheck' = 'first'; ; ) {
    const remaining = deadline - Date.now();
    const stop = new AbortController();
    const abort = (): void => stop.abort(DONE);
    signal?.addEventListener('abort', abort, { once: true });
    const woken = notifier.wait(key, Math.min(Math.max(remaining, 0), recheckMs), stop.signal);
    try {
      const found = await check(why);
      if (found !== undefined) return found;
      if (remaining <= 0 || signal?.aborted === true) return undefined;
      const wasWoken = await woken;
      if (!wasWoken && notifier.isClosed) return undefined; // the caller must not touch a closing store
      why = wasWoken ? 'woken' : 'recheck';
    } finally {
      stop.abort(DONE);
      signal?.removeEventListener('abort', abort);
    }
  }
}
