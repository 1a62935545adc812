import { ErrorCode as RpcCode, McpError } from '@modelcontextprotocol/sdk/types.js';

/** The longest delay setTimeout takes (a longer one fires at once). */
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
  readonly #reason = new McpError(RpcCode.RequestTimeout, 'Request timed out (gateway deadline)');
  readonly #timeout: number;
  #idle: NodeJS.Timeout;
  readonly #total: NodeJS.Timeout;

  constructor(timeout: number, maxTotal: number, caller?: AbortSignal) {
    this.#timeout = timeout;
    this.signal = caller === undefined ? this.#controller.signal : AbortSignal.any([caller, this.#controller.signal]);
    this.#idle = setTimeout(() => this.#expire(), timeout);
    this.#total = setTimeout(() => this.#expire(), Math.max(timeout, maxTotal));
  }

  /** Whether `err` is this deadline's own expiry (not a backend's answer, not the caller's cancel). */
  expired(err: unknown): boolean {
    return err === this.#reason;
  }

  /** Progress from the backend: the idle timer starts over (the total one does not). */
  extend(): void {
    if (this.#controller.signal.aborted) return;
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.#expire(), this.#timeout);
  }

  /** The request settled: no timer is left behind. */
  clear(): void {
    clearTimeout(this.#idle);
    clearTimeout(this.#total);
  }

  #expire(): void {
    this.clear();
    this.#controller.abort(this.#reason);
  }
}
