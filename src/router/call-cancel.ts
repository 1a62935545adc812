import type { AbortListener, AbortWatch } from '../pool/connection.js';

/**
 * [speed] A call's cancel without an AbortSignal: what a surface hands the
 * router as `CallRequest.signal` when nothing but itself may cancel the
 * call (REST's hot path: the client going away). An AbortController costs
 * a native EventTarget, its signal and, once the router's Deadline listens,
 * an event-target listener per call; this is a plain object with one field
 * set, and the router's Deadline listens to it the same way (AbortWatch).
 * Whoever needs a real AbortSignal (the SDK path) gets one from the
 * Deadline, which makes it only then (deadline.ts).
 */
export class CallCancel implements AbortWatch {
  #aborted = false;
  #reason: unknown;
  /** At most one at a time in practice (one Deadline per attempt, removed when it settles). */
  #listeners: AbortListener[] = [];

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  addEventListener(_type: 'abort', listener: AbortListener): void {
    if (!this.#listeners.includes(listener)) this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    const at = this.#listeners.indexOf(listener);
    if (at >= 0) this.#listeners.splice(at, 1);
  }

  /** Cancels the call (once); each listener is told once and dropped, as with `{ once: true }`. */
  cancel(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener.handleEvent();
  }
}
