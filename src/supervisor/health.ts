import type { BackendConfig } from '../config/schema.js';
import type { Logger } from '../log.js';

export interface HealthCheckOptions {
  /** Time between the end of one check and the start of the next, in ms. */
  intervalMs: number;
  /** How long one check may take before it counts as failed, in ms. */
  timeoutMs: number;
  /** Sends the check (MCP ping); rejects when it fails or takes longer than `timeoutMs`. */
  probe: (timeoutMs: number) => Promise<void>;
  /** A check failed; `consecutive` counts the failures in a row, this one included. */
  onFailure: (consecutive: number, error: Error) => void;
  /** A check passed (after failures or not). */
  onSuccess: () => void;
  logger: Logger;
}

/**
 * Periodic health checks of one backend. Checks never overlap: the next is
 * scheduled when the last has settled, so a slow backend is not pinged
 * faster than it answers. The timer is unref'd (it never keeps the gateway
 * alive) and a result that arrives after stop() — or after a stop and a new
 * start — is ignored.
 */
export class HealthCheck {
  readonly #options: HealthCheckOptions;
  #timer: NodeJS.Timeout | undefined;
  /** Bumped by start() and stop(), so a check in flight knows it is stale. */
  #epoch = 0;
  #active = false;
  #failures = 0;

  constructor(options: HealthCheckOptions) {
    this.#options = options;
  }

  /** The checks a backend's config asks for: none with `health_check = false` or `health_interval = 0`. */
  static of(config: BackendConfig, logger: Logger, hooks: Pick<HealthCheckOptions, 'probe' | 'onFailure' | 'onSuccess'>): HealthCheck | undefined {
    const { health_interval: interval, health_timeout: timeoutMs } = config.supervisor;
    if (!config.healthCheck || interval <= 0) return undefined;
    return new HealthCheck({ intervalMs: interval * 1000, timeoutMs, logger, ...hooks });
  }

  /** Whether checks are scheduled. */
  get active(): boolean {
    return this.#active;
  }

  /** Failed checks in a row so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Starts checking with a clean slate; no-op when already started. */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#epoch += 1;
    this.#failures = 0;
    this.#schedule(this.#epoch);
  }

  /** Stops checking; idempotent. */
  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#epoch += 1;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(epoch: number): void {
    this.#timer = setTimeout(() => void this.#check(epoch), this.#options.intervalMs);
    this.#timer.unref();
  }

  async #check(epoch: number): Promise<void> {
    const { probe, timeoutMs, onFailure, onSuccess, logger } = this.#options;
    let failure: Error | undefined;
    try {
      await probe(timeoutMs);
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
    if (epoch !== this.#epoch) return;
    if (failure === undefined) {
      if (this.#failures > 0) logger.info({ after_failures: this.#failures }, 'health check passed');
      this.#failures = 0;
      onSuccess();
    } else {
      this.#failures += 1;
      logger.warn({ consecutive_failures: this.#failures, error: failure.message }, 'health check failed');
      onFailure(this.#failures, failure);
    }
    // onFailure may have stopped the checks (a restart): then no next one.
    if (epoch === this.#epoch) this.#schedule(epoch);
  }
}

/** The part of a connection a ping needs. */
export interface Pingable {
  readonly alive: boolean;
  /** [mcp-bridge] 'modern' (2026-07-28): that era has no ping, the check is server/discover. */
  readonly era?: 'legacy' | 'modern';
  readonly client: { ping(options?: { timeout?: number }): Promise<unknown>; discover?(options?: { timeout?: number }): Promise<unknown> };
}

/** One liveness check of a connection: ping, or server/discover on a 2026-07-28 connection. */
function check(connection: Pingable, timeoutMs: number): Promise<unknown> {
  const discover = connection.client.discover;
  if (connection.era === 'modern' && discover !== undefined) return discover.call(connection.client, { timeout: timeoutMs });
  return connection.client.ping({ timeout: timeoutMs });
}

/**
 * Pings every live connection of a backend at once (a ping is not a call:
 * it takes no slot of the pool). Rejects with the first failure of a
 * connection that is still alive — one that ended meanwhile was closed or
 * reaped, and its end is reported elsewhere.
 */
export async function pingAll(connections: Iterable<Pingable>, timeoutMs: number): Promise<void> {
  const targets = [...connections].filter((c) => c.alive);
  const results = await Promise.allSettled(targets.map((c) => check(c, timeoutMs)));
  for (const [i, result] of results.entries()) {
    if (result.status === 'fulfilled' || targets[i]?.alive !== true) continue;
    const reason: unknown = result.reason;
    const message = reason instanceof Error ? reason.message : String(reason);
    throw new Error(/timed out/i.test(message) ? `no answer to ping within ${timeoutMs} ms` : `ping failed: ${message}`);
  }
}
