import { SdkError, SdkErrorCode } from '@modelcontextprotocol/client';

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
export class Deadline {
  /** Aborts when the deadline expires or the caller's signal aborts. */
  readonly signal: AbortSignal;
  readonly #controller = new AbortController();
  /** Made only when the deadline expires: an Error's stack trace costs more than the rest of the request's bookkeeping. */
  #reason: SdkError | undefined;
  readonly #timeout: number;
  #end: number;
  /** Set while paused: when the pause began. */
  #pausedAt: number | undefined;
  readonly #caller: AbortSignal | undefined;
  readonly #cap: number;
  #timer: NodeJS.Timeout | undefined;
  #capped = false;

  constructor(timeout: number, maxTotal: number, caller?: AbortSignal) {
    this.#timeout = timeout;
    this.#cap = Math.max(timeout, maxTotal);
    this.#end = Date.now() + this.#cap;
    this.#caller = caller;
    this.signal = this.#controller.signal;
    // Linked by hand, not with AbortSignal.any: one listener, removed in clear().
    if (caller?.aborted === true) this.#controller.abort(caller.reason);
    else caller?.addEventListener('abort', this.#onCallerAbort, { once: true });
    this.#arm();
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
    if (this.#controller.signal.aborted || this.#pausedAt !== undefined) return;
    clearTimeout(this.#timer);
    this.#arm();
  }

  /**
   * The backend waits for the caller (a request parked for a 2026-07-28
   * caller's answer, src/mcp/input-bridge.ts): no time counts until
   * resume(), and the hard maximum moves by the pause.
   */
  pause(): void {
    if (this.#controller.signal.aborted || this.#pausedAt !== undefined) return;
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
    this.#timer = setTimeout(
      () => {
        this.clear();
        this.#reason = new SdkError(SdkErrorCode.RequestTimeout, 'Request timed out (gateway deadline)');
        this.#controller.abort(this.#reason);
      },
      Math.max(0, left),
    );
  }

  readonly #onCallerAbort = (): void => {
    clearTimeout(this.#timer);
    this.#controller.abort(this.#caller?.reason);
  };
}
