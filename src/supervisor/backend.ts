import { EventEmitter } from 'node:events';
import type { BackendConfig } from '../config/schema.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { AffinityPool, type BackendPoolStats, type SessionRef } from '../pool/affinity-pool.js';
import type { CloseCause, Connection } from '../pool/connection.js';
import type { ConnectHooks } from './connect.js';
import { CrashWindow } from './crash-window.js';
import { BackendEra, type ProtocolView } from './era.js';
import { HealthCheck, pingAll } from './health.js';
import { type Connector, defaultConnector } from './transport.js';
import { unavailable } from './unavailable.js';

/**
 * stopped → starting → running ⇄ degraded (a failed health check or HTTP link;
 * a passed check or an answer goes back); a crash, a lost HTTP session, or
 * health_failures failed checks in a row: running/degraded → restarting →
 * running; too many in the window, or a start that can never work (command
 * not found): → failed; [oauth-out] no OAuth token the backend accepts: → needs_auth (retried). stop() → stopped.
 */
export type BackendState = 'stopped' | 'starting' | 'running' | 'degraded' | 'restarting' | 'failed' | 'needs_auth';

/** A snapshot of one backend for /server/list and gate_status. */
export interface BackendInfo {
  name: string;
  status: BackendState;
  transport: BackendConfig['transport'];
  origin: BackendConfig['origin'];
  pid: number | undefined;
  uptime_seconds: number;
  restarts: number;
  last_error: string | null;
  last_stderr: readonly string[];
  pool: BackendPoolStats;
  protocol: ProtocolView; // [mcp-bridge] the configured protocol and the era verdict (era.ts)
}

export interface BackendOptions {
  config: BackendConfig;
  logger: Logger;
  connector?: Connector;
  hooks?: ConnectHooks;
  /**
   * Runs on each new first connection before the backend counts as running
   * (the gateway lists the tools here, so `running` implies a catalog).
   * Its result travels with the `ready` event. `config` is the backend's.
   */
  prepare?: (connection: Connection, config: BackendConfig) => Promise<unknown>;
}

interface ReadyWaiter {
  resolve: () => void;
  reject: (error: GatewayError) => void;
}

const EMPTY_POOL: BackendPoolStats = { size: 0, available: 0, active: 0, pending: 0, inflight: 0, sessions: 0 };

/** One configured backend: its lifecycle, its crash recovery and its pool. Emits `state`, `ready` and `tools_changed`. */
export class Backend extends EventEmitter {
  readonly name: string;
  config: BackendConfig; // a reload swaps it when only timeout or breaker changed (gateway/reload-backends.ts)
  readonly era: BackendEra; // [mcp-bridge] the era verdict of this start (era.ts)
  readonly #log: Logger;
  readonly #connector: Connector;
  readonly #hooks: ConnectHooks;
  readonly #prepare: BackendOptions['prepare'];
  #state: BackendState = 'stopped';
  #pool: AffinityPool | undefined;
  #generation = 0;
  readonly #crashes: CrashWindow;
  #retryTimer: NodeJS.Timeout | undefined;
  #readyWaiters: ReadyWaiter[] = [];
  readonly #live = new Set<Connection>();
  #runningSince: number | undefined;
  #restarts = 0;
  #hasRun = false; // this start reached running (a retry before that is not a restart)
  #lastError: GatewayError | undefined;
  #lastStderr: readonly string[] = [];
  /** No new connection before this time (ms): the restart backoff, for connections the pool adds. */
  #growNotBefore = 0;
  #growFailures = 0;
  readonly #health: HealthCheck | undefined;
  #faulted = false; // degraded by a transport failure (#onFault), not a health check: any answer ends it

  constructor(options: BackendOptions) {
    super();
    this.name = options.config.name;
    this.config = options.config;
    this.#log = options.logger;
    this.#crashes = new CrashWindow(this.config.supervisor);
    this.#connector = options.connector ?? defaultConnector;
    this.#prepare = options.prepare;
    this.era = new BackendEra(this.config, this.#log);
    const setup = options.hooks?.setup;
    this.#hooks = {
      ...options.hooks,
      era: this.era, // [mcp-bridge] connectors read the verdict from hooks.era
      setup: (client) => {
        client.setNotificationHandler('notifications/tools/list_changed', async () => {
          this.emit('tools_changed');
        });
        setup?.(client);
      },
    };
    this.#health = HealthCheck.of(this.config, this.#log, {
      probe: (ms) => pingAll(this.#live, ms),
      onFailure: (consecutive, error) => this.#onUnhealthy(consecutive, error),
      onSuccess: () => this.#state === 'degraded' && this.#setState('running'),
    });
  }

  get state(): BackendState {
    return this.#state;
  }

  /** Starts the backend; resolves once it serves, rejects if it ends failed or stopped first. */
  start(): Promise<void> {
    if (this.#state === 'running' || this.#state === 'degraded') return Promise.resolve();
    const ready = this.#whenReady();
    if (this.#state === 'starting' || this.#state === 'restarting') return ready;
    this.#generation += 1;
    this.#crashes.clear();
    this.#hasRun = false;
    this.#lastError = undefined;
    this.#growNotBefore = 0;
    this.#growFailures = 0;
    const factory = { create: () => this.#grow(), lastError: () => this.#lastError, holdOff: () => Date.now() < this.#growNotBefore };
    this.#pool = new AffinityPool(this.name, this.config.pool, factory, this.config.affinity);
    this.#setState('starting');
    void this.#attempt(this.#generation);
    return ready;
  }

  /**
   * Stops every connection (children get stdin closed, SIGTERM, SIGKILL).
   * Idempotent. `cause` is what calls still in flight after drain_timeout
   * are told cut them off.
   */
  async stop(cause: CloseCause = 'stop'): Promise<void> {
    this.#generation += 1;
    clearTimeout(this.#retryTimer);
    const pool = this.#pool;
    this.#pool = undefined;
    this.#runningSince = undefined;
    if (this.#state !== 'stopped') this.#setState('stopped');
    this.#settleReady(new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.name}' was stopped`));
    // New calls are refused from here on; calls in flight get drain_timeout
    // to finish before their connections close under them.
    if (pool !== undefined && !(await pool.idle(this.config.supervisor.drain_timeout))) {
      this.#log.warn(
        { inflight: pool.stats().inflight, drain_timeout: this.config.supervisor.drain_timeout },
        'calls still in flight after drain_timeout are cancelled',
      );
    }
    const live = [...this.#live];
    this.#live.clear();
    // Each live connection learns the cause before the pool closes it too.
    await Promise.all([...live.map((c) => c.close(cause)), pool?.close()]);
  }

  async restart(): Promise<void> {
    await this.stop('restart');
    await this.start();
  }

  /** Runs `fn` on a pooled connection (the session's own with affinity = "session"), waiting briefly while the backend (re)starts. */
  async use<T>(fn: (connection: Connection) => Promise<T>, session?: SessionRef): Promise<T> {
    if (this.#state === 'starting' || this.#state === 'restarting') await this.#whenReady(this.config.pool.acquire_timeout);
    const pool = this.#pool;
    if (pool === undefined || (this.#state !== 'running' && this.#state !== 'degraded')) throw unavailable(this.name, this.#state, this.#lastError);
    const result = await pool.use(fn, session);
    if (this.#faulted && this.#state === 'degraded') this.#setState('running');
    return result;
  }

  /** An MCP session ended: the connections it had of its own close. */
  endSession(id: string): Promise<void> {
    return this.#pool?.endSession(id) ?? Promise.resolve();
  }

  info(): BackendInfo {
    const pid = [...this.#live].find((c) => c.alive)?.pid;
    return {
      name: this.name,
      status: this.#state,
      transport: this.config.transport,
      origin: this.config.origin,
      pid,
      uptime_seconds: this.#runningSince === undefined ? 0 : Math.floor((Date.now() - this.#runningSince) / 1000),
      restarts: this.#restarts,
      last_error: this.#lastError?.message ?? null,
      last_stderr: this.#lastStderr,
      pool: this.#pool?.stats() ?? EMPTY_POOL,
      protocol: this.era.view(),
    };
  }

  async #attempt(generation: number): Promise<void> {
    let connection: Connection;
    try {
      connection = await this.#connect();
    } catch (err) {
      if (generation === this.#generation) this.#onFailure(toGatewayError(err, 'BACKEND_UNAVAILABLE'));
      return;
    }
    let prepared: unknown;
    try {
      prepared = await this.#prepare?.(connection, this.config);
    } catch (err) {
      await connection.close();
      if (generation === this.#generation) {
        this.#onFailure(new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.name}' initialized but its tool listing failed: ${(err as Error).message}`));
      }
      return;
    }
    const pool = this.#pool;
    if (generation !== this.#generation || pool === undefined) {
      await connection.close();
      return;
    }
    try {
      await pool.adopt(connection);
    } catch (err) {
      if (generation === this.#generation) this.#onFailure(toGatewayError(err, 'BACKEND_UNAVAILABLE'));
      return;
    }
    if (generation !== this.#generation) return;
    const restarted = this.#state === 'restarting' && this.#hasRun;
    this.#hasRun = true;
    if (restarted) this.#restarts += 1;
    this.#runningSince = Date.now();
    this.#setState('running');
    this.#settleReady();
    this.emit('ready', { restarted, prepared });
  }

  async #connect(): Promise<Connection> {
    this.#log.debug({ transport: this.config.transport, state: this.#state, connections: this.#live.size }, 'connect attempt');
    await this.era.settle(); // [mcp-bridge] stdio `auto`: the throwaway probe, once per start
    const connection = await this.#connector(this.config, this.#log, this.#hooks);
    this.#hooks.connected?.(connection.client); // [mcp-bridge] see ConnectHooks.connected
    this.#live.add(connection);
    const generation = this.#generation;
    connection.onFault = (reason) => generation === this.#generation && this.#onFault(reason);
    void connection.ended.then((end) => {
      this.#live.delete(connection);
      if (end.expected || generation !== this.#generation) return;
      this.#lastStderr = end.stderr;
      this.#onCrash(end.reason);
    });
    return connection;
  }

  /**
   * The pool's create (pool/pool.ts): more connections only while the backend is up,
   * and not before the restart backoff has passed (the pool replaces a
   * dead process on demand; a process that keeps dying, or an extra one
   * that fails to start, must not be respawned at the pool's pace). The
   * backend keeps serving on its live connections meanwhile.
   */
  async #grow(): Promise<Connection> {
    if (this.#state !== 'running' && this.#state !== 'degraded') throw unavailable(this.name, this.#state, this.#lastError);
    // A connection that closed but has not reported its end yet may be the
    // last one: its end decides between a restart and a replacement.
    if ([...this.#live].some((c) => !c.alive)) {
      throw new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.name}' has a connection ending; a new one is made after`, { retryAfter: 1 });
    }
    const wait = this.#growNotBefore - Date.now();
    if (wait > 0) {
      // The pool retries at its pace; the process is spawned once the backoff is over.
      throw new GatewayError(
        'BACKEND_UNAVAILABLE',
        `Backend '${this.name}' starts no new process for ${wait} ms (restart backoff after: ${this.#lastError?.message ?? 'a failure'})`,
        { retryAfter: 1 },
      );
    }
    try {
      const connection = await this.#connect();
      this.#growFailures = 0;
      return connection;
    } catch (err) {
      const error = toGatewayError(err, 'BACKEND_UNAVAILABLE');
      this.#growFailures += 1;
      this.#growNotBefore = Date.now() + this.#crashes.backoff(this.#growFailures);
      this.#log.warn({ attempt: this.#growFailures, error: error.message }, 'could not add a connection');
      throw error;
    }
  }

  /** A health check failed: degraded at once, restarted after health_failures in a row. */
  #onUnhealthy(consecutive: number, error: Error): void {
    if (this.#state !== 'running' && this.#state !== 'degraded') return;
    if (consecutive < this.config.supervisor.health_failures) return this.#setState('degraded');
    const why = `stopped answering health checks (${consecutive} failed in a row: ${error.message})`;
    this.#log.warn({ consecutive_failures: consecutive }, 'backend unhealthy; restarting it');
    // The ends of the old connections are ours, not new crashes: a new
    // generation ignores them. Calls in flight on them fail as in a crash.
    this.#generation += 1;
    for (const connection of this.#live) void connection.terminate(why);
    this.#onFailure(new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.name}' ${why}`));
  }

  /** A link that fails but stays open (an HTTP server down for a restart): degraded at once, the cause in last_error, until an answer or a new session. */
  #onFault(reason: string): void {
    if (this.#state !== 'running' && this.#state !== 'degraded') return;
    this.#lastError = new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.name}' ${reason}`);
    if (this.#state === 'running') this.#log.warn({ reason }, 'backend transport failed; degraded');
    this.#setState('degraded');
    this.#faulted = true;
  }

  #onCrash(reason: string): void {
    const error = new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.name}' ${reason}`);
    this.#log.warn({ reason, stderr: this.#lastStderr.slice(-5) }, 'backend connection ended unexpectedly');
    const othersAlive = [...this.#live].some((c) => c.alive);
    if ((this.#state === 'running' || this.#state === 'degraded') && othersAlive) {
      // Another process of this backend still serves; the pool replaces the
      // dead one on demand. The crash still counts toward the crash loop.
      this.#lastError = error;
      if (this.#crashes.record() && this.config.autoRestart) {
        this.#growNotBefore = Date.now() + this.#crashes.backoff(this.#crashes.count);
        return;
      }
      this.#fail(`${error.message}; ${this.config.autoRestart ? this.#crashes.gaveUp() : 'auto_restart is off'}`);
      return;
    }
    if (this.#state === 'running' || this.#state === 'degraded') this.#onFailure(error);
  }

  #onFailure(error: GatewayError): void {
    this.#lastError = error;
    const permanent = error.details?.permanent === true;
    if (permanent || !this.config.autoRestart) {
      this.#fail(permanent ? error.message : `${error.message} (auto_restart is off)`);
      return;
    }
    const auth = error.code === 'BACKEND_AUTH_REQUIRED'; // [oauth-out] needs_auth: retried on the backoff, never failed
    if (!this.#crashes.record() && !auth) {
      this.#fail(`${error.message}; ${this.#crashes.gaveUp()}`);
      return;
    }
    const delay = this.#crashes.backoff(this.#crashes.count);
    this.#log.warn({ attempt: this.#crashes.count, delay_ms: delay, error: error.message }, 'backend will restart');
    this.#runningSince = undefined;
    this.#setState(auth ? 'needs_auth' : 'restarting');
    if (auth) this.#settleReady(error);
    const generation = this.#generation;
    this.#retryTimer = setTimeout(() => void this.#attempt(generation), delay);
  }

  #fail(message: string): void {
    const error = new GatewayError('BACKEND_UNAVAILABLE', message);
    this.#lastError = error;
    this.#runningSince = undefined;
    this.#log.error({ error: message, stderr: this.#lastStderr.slice(-5) }, 'backend failed');
    this.#setState('failed');
    const pool = this.#pool;
    this.#pool = undefined;
    this.#settleReady(error);
    void pool?.close();
  }

  #whenReady(timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: ReadyWaiter = { resolve, reject };
      this.#readyWaiters.push(waiter);
      if (timeoutMs === undefined) return;
      const timer = setTimeout(() => {
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== waiter);
        reject(unavailable(this.name, this.#state, this.#lastError));
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      waiter.reject = (error) => {
        clearTimeout(timer);
        reject(error);
      };
    });
  }

  #settleReady(error?: GatewayError): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) error === undefined ? w.resolve() : w.reject(error);
  }

  #setState(next: BackendState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    this.#faulted = false;
    if (next === 'starting' || next === 'restarting') this.era.reset(); // [mcp-bridge] each (re)start asks the era again
    if (next === 'running' || next === 'degraded') this.#health?.start();
    else this.#health?.stop();
    this.#log.info({ from: previous, to: next }, `backend ${next}`);
    this.emit('state', next, previous);
  }
}
