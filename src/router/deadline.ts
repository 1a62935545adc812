import { SdkError, SdkErrorCode } from '@modelcontextprotocol/client';
import type { AbortListener, AbortWatch } from '../pool/connection.js';

/** The longest delay setTimeout takes (a longer one fires at once): what the SDK's own timer is given. */
export const NO_SDK_TIMEOUT = 2 ** 31 - 1;

/**
 * The gateway's own timer for one request to a backend: it expires after
 * `timeout` ms without progress, and after `maxTotal` ms whatever the
 * progress. The SDK's timer is not used (requests get NO_SDK_TIMEOUT): its
 * error carries the same code (-32001) a backend may answer with, so a
 * backend's "request timeout" answer after 37 ms read as the gateway's
 * timeout. Here the abort reason is an error object of our own, so an
 * expiry is told apart by identity, never by code.
 */
export class Deadline implements AbortWatch {
  /** Made only when the deadline expires: an Error's stack trace costs more than the rest of the request's bookkeeping. */
  #reason: SdkError | undefined;
  /** [speed] Made on first use of `signal` (the SDK path): the lean path watches the deadline itself. */
  #controller: AbortController | undefined;
  #aborted = false;
  #abortReason: unknown;
  /** The one listener of the lean path (lean-calls.ts); a request has one. */
  #listener: AbortListener | undefined;
  readonly #timeout: number;
  #end: number;
  /** Set while paused: when the pause began. */
  #pausedAt: number | undefined;
  readonly #caller: AbortWatch | undefined;
  readonly #cap: number;
  #timer: NodeJS.Timeout | undefined;
  #capped = false;

  constructor(timeout: number, maxTotal: number, caller?: AbortWatch) {
    this.#timeout = timeout;
    this.#cap = Math.max(timeout, maxTotal);
    this.#end = Date.now() + this.#cap;
    this.#caller = caller;
    // Linked by hand, not with AbortSignal.any: one listener, removed in clear().
    if (caller?.aborted === true) this.#abort(caller.reason);
    else {
      caller?.addEventListener('abort', this.#onCallerAbort, { once: true });
      this.#arm();
    }
  }

  /** Aborts when the deadline expires or the caller's signal aborts. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** Whether the deadline expired or the caller aborted (AbortWatch, as the signal's). */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why it ended: the expiry's own error, or the caller's reason (AbortWatch, as the signal's). */
  get reason(): unknown {
    return this.#abortReason;
  }

  /** [speed] Watches the end without a signal (AbortWatch): one listener, told once. */
  addEventListener(_type: 'abort', listener: AbortListener): void {
    this.#listener = listener;
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    if (this.#listener === listener) this.#listener = undefined;
  }

  /** Whether `err` is this deadline's own expiry (not a backend's answer, not the caller's cancel). */
  expired(err: unknown): boolean {
    return err !== undefined && err === this.#reason;
  }

  /**
   * The limit the deadline applies now, in ms: the idle timeout, or — once
   * progress has run the request so long that the hard maximum cuts the
   * idle time short — that maximum (`capped`). An expiry is reported with
   * this, so the error quotes what really ended the request.
   */
  applied(): { ms: number; capped: boolean } {
    return this.#capped ? { ms: this.#cap, capped: true } : { ms: this.#timeout, capped: false };
  }

  /** Progress from the backend: the idle time starts over (never past maxTotal). */
  extend(): void {
    if (this.#aborted || this.#pausedAt !== undefined) return;
    clearTimeout(this.#timer);
    this.#arm();
  }

  /**
   * The backend waits for the caller (a request parked for a 2026-07-28
   * caller's answer, src/mcp/input-bridge.ts): no time counts until
   * resume(), and the hard maximum moves by the pause.
   */
  pause(): void {
    if (this.#aborted || this.#pausedAt !== undefined) return;
    clearTimeout(this.#timer);
    this.#pausedAt = Date.now();
  }

  /** The caller answered: the idle time starts over. */
  resume(): void {
    if (this.#pausedAt === undefined) return;
    this.#end += Date.now() - this.#pausedAt;
    this.#pausedAt = undefined;
    this.extend();
  }

  /** The request settled: no timer or listener is left behind. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#caller?.removeEventListener('abort', this.#onCallerAbort);
  }

  #arm(): void {
    const total = this.#end - Date.now();
    this.#capped = this.#cap > this.#timeout && total < this.#timeout;
    const left = Math.min(this.#timeout, total);
    this.#timer = setTimeout(this.#expire, Math.max(0, left));
  }

  readonly #expire = (): void => {
    this.clear();
    this.#reason = new SdkError(SdkErrorCode.RequestTimeout, 'Request timed out (gateway deadline)');
    this.#abort(this.#reason);
  };

  #abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.handleEvent();
  }

  /** The caller's abort, as an object listener ([speed] an AbortWatch such as REST's CallCancel takes no function). */
  readonly #onCallerAbort: AbortListener = {
    handleEvent: (): void => {
      clearTimeout(this.#timer);
      this.#abort(this.#caller?.reason);
    },
  };
}
