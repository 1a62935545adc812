import CircuitBreaker from 'opossum';
import type { BreakerSettings } from '../config/schema.js';
import { type ErrorCode, GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { faultOf } from './fault.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

/**
 * Failures that say the backend is unwell: its link closed or it crashed,
 * the gateway's own deadline expired, or it answered with something that is
 * not JSON-RPC. Everything else never counts: a bad argument caught by the
 * gateway, the gateway's own load shedding, a caller's cancel, an
 * operator's stop (fault.ts) — and a JSON-RPC error the backend answered on
 * a live link (`backend_code`): that is its verdict on one request, often on
 * one tenant's input, and must not open the circuit for everyone.
 */
const BACKEND_FAULTS: ReadonlySet<ErrorCode> = new Set(['BACKEND_ERROR', 'BACKEND_UNAVAILABLE', 'TIMEOUT']);

export function countsAsFailure(error: unknown): boolean {
  if (!isGatewayError(error)) return true;
  if (!BACKEND_FAULTS.has(error.code) || faultOf(error) !== 'backend') return false;
  return error.details?.backend_code === undefined;
}

/**
 * One backend's circuit breaker: opossum holds the open/half-open/closed
 * machine and lets exactly one probe through when half-open; on top of it
 * the circuit opens after `failure_threshold` consecutive failures, and a
 * circuit that just closed stays on probation — one failure reopens it —
 * until `success_threshold` calls have succeeded. With
 * `error_threshold_percentage` > 0 it also opens when more than that share
 * of the calls in the last `rolling_window` seconds failed, once
 * `volume_threshold` calls were made in it (opossum's rolling window; the
 * calls it counts include ones that did not count as failures).
 */
export class Breaker {
  readonly #name: string;
  readonly #settings: BreakerSettings;
  readonly #logger: Logger;
  readonly #circuit: CircuitBreaker<[() => Promise<unknown>], unknown>;
  #consecutive = 0;
  #probation = 0;
  #openedAt = 0;
  /** Whether a share of failures in the rolling window can open the circuit (error_threshold_percentage > 0). */
  readonly #byRate: boolean;

  /** `onChange` hears each transition ([dashboard] the backend's state history). */
  constructor(name: string, settings: BreakerSettings, logger: Logger, onChange?: (to: CircuitState) => void) {
    this.#name = name;
    this.#settings = settings;
    this.#logger = logger;
    const byRate = settings.error_threshold_percentage > 0;
    this.#byRate = byRate;
    this.#circuit = new CircuitBreaker((fn: () => Promise<unknown>) => fn(), {
      timeout: false, // each call has its own AbortSignal deadline
      resetTimeout: settings.reset_timeout * 1000,
      // Without a percentage only consecutive failures decide (below):
      // a rate over 100 % never happens.
      errorThresholdPercentage: byRate ? settings.error_threshold_percentage : 100,
      volumeThreshold: byRate ? settings.volume_threshold : Number.MAX_SAFE_INTEGER,
      rollingCountTimeout: settings.rolling_window * 1000,
      rollingCountBuckets: 10,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      // A half-open probe that never reached the backend's judgement (the
      // caller cancelled, the pool shed it) proves nothing: it must not
      // close the circuit, so there it counts, and the circuit re-probes later.
      errorFilter: (error: unknown) => !countsAsFailure(error) && !this.#circuit.halfOpen,
    });
    this.#circuit.on('failure', () => this.#failed());
    this.#circuit.on('open', () => {
      this.#openedAt = Date.now();
      this.#probation = 0;
      // The rolling window counts calls only when the rate decides (fire() runs the others past opossum).
      const { failures, fires } = this.#circuit.stats;
      logger.warn({ consecutive_failures: this.#consecutive, ...(byRate ? { window_failures: failures, window_calls: fires } : {}) }, 'circuit open');
      onChange?.('open');
    });
    this.#circuit.on('halfOpen', () => {
      logger.info('circuit half-open: letting one call through');
      onChange?.('half_open');
    });
    this.#circuit.on('close', () => {
      this.#consecutive = 0;
      // The probe that closed the circuit is counted by fire() as it returns.
      this.#probation = settings.success_threshold;
      logger.info('circuit closed');
      onChange?.('closed');
    });
  }

  get state(): CircuitState {
    if (this.#circuit.closed) return 'closed';
    return this.#circuit.halfOpen ? 'half_open' : 'open';
  }

  /** Runs `fn` through the circuit; CIRCUIT_OPEN at once while it is open. */
  async fire<T>(fn: () => Promise<T>): Promise<T> {
    // [speed] A closed circuit that only consecutive failures can open needs nothing of opossum per call (its rolling window
    // decides only by rate): the call runs as it is and its outcome is counted here as opossum's events count it (the
    // errorFilter's rule while closed: a failure is what countsAsFailure says). Open, half-open, by rate, shut down: opossum.
    if (!this.#byRate && this.#circuit.closed && !this.#circuit.isShutdown) {
      let result: T;
      try {
        result = await fn();
      } catch (err) {
        if (countsAsFailure(err)) this.#failed();
        throw err;
      }
      this.#consecutive = 0;
      if (this.#probation > 0) this.#probation -= 1;
      return result;
    }
    try {
      const result = (await this.#circuit.fire(fn)) as T;
      this.#consecutive = 0;
      if (this.#probation > 0) this.#probation -= 1;
      return result;
    } catch (err) {
      if ((err as { code?: string }).code === 'EOPENBREAKER') throw this.#openError();
      if ((err as { code?: string }).code === 'ESHUTDOWN') {
        throw new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.#name}' was removed`);
      }
      throw err;
    }
  }

  /**
   * Closes the circuit with a clean slate (no probation, no failures in a
   * row): the backend was (re)started and serves, or an admin closed it by
   * hand with POST /server/reset. A no-op on a closed circuit.
   */
  reset(why: string): void {
    if (this.#circuit.closed && this.#consecutive === 0 && this.#probation === 0) return;
    const wasOpen = !this.#circuit.closed;
    this.#circuit.close();
    this.#consecutive = 0;
    this.#probation = 0;
    if (wasOpen) this.#logger.info({ why }, 'circuit closed by a reset');
  }

  /** Stops the breaker's timers (backend removed). */
  shutdown(): void {
    this.#circuit.shutdown();
  }

  /** A failure that counts: the circuit opens at failure_threshold in a row, or at once on probation. */
  #failed(): void {
    this.#consecutive += 1;
    if (this.#circuit.closed && (this.#probation > 0 || this.#consecutive >= this.#settings.failure_threshold)) this.#circuit.open();
  }

  #openError(): GatewayError {
    const resetMs = this.#settings.reset_timeout * 1000;
    const left = Math.max(1, Math.ceil((this.#openedAt + resetMs - Date.now()) / 1000));
    const why = this.state === 'half_open' ? 'a probe call is testing it' : `retry after ${left} s`;
    return new GatewayError(
      'CIRCUIT_OPEN',
      `Circuit open for server '${this.#name}' — backend is failing; ${why}, or once it is fixed POST /server/reset (or /server/restart)`,
      { retryAfter: left },
    );
  }
}
