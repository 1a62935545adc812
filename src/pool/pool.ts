import genericPool from 'generic-pool';
import type { PoolSettings } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Connection } from './connection.js';

/** Makes connections for a pool; the supervisor's backend supplies it. */
export interface ConnectionFactory {
  create(): Promise<Connection>;
  /** Why the last create() failed, if it did; reported instead of a bare acquire timeout. */
  lastError?(): GatewayError | undefined;
}

/** Pool gauges for /server/list and metrics. */
export interface PoolStats {
  /** Connections that exist (idle, in use, or being created). */
  size: number;
  /** Idle connections ready to take a call. */
  available: number;
  /** Connections carrying at least one call. */
  active: number;
  /** Calls waiting for a connection. */
  pending: number;
  /** Calls in flight across all connections. */
  inflight: number;
}

const CREATE_RETRY_PACE_MS = 100;

function reserve(connection: Connection): Connection {
  connection.inflight += 1;
  return connection;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Waiter {
  resolve: (connection: Connection) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The connections of one backend. generic-pool owns their lifecycle
 * (creation, validation on borrow, min, idle reaping, acquire timeout); on
 * top of it, a borrowed connection is shared by up to `max_concurrency`
 * calls, since MCP multiplexes requests over one link. A new connection is
 * borrowed as soon as every existing one is busy and `max` allows, so that
 * `max` processes share the load of a backend that works serially.
 */
export class Pool {
  readonly #name: string;
  readonly #settings: PoolSettings;
  readonly #inner: genericPool.Pool<Connection>;
  readonly #factory: ConnectionFactory;
  readonly #active = new Set<Connection>();
  readonly #waiters: Waiter[] = [];
  readonly #adopted: Connection[] = [];
  readonly #borrowWatchers: (() => void)[] = [];
  #lastCreateFailure = 0;
  #borrowing = 0;
  #waiting = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(name: string, settings: PoolSettings, factory: ConnectionFactory) {
    this.#name = name;
    this.#settings = settings;
    this.#factory = factory;
    const idleMs = settings.idle_timeout * 1000;
    this.#inner = genericPool.createPool<Connection>(
      {
        create: () => this.#create(),
        destroy: (connection) => connection.close(),
        validate: async (connection) => connection.alive,
      },
      {
        min: Math.min(settings.min, settings.max),
        max: settings.max,
        acquireTimeoutMillis: settings.acquire_timeout,
        maxWaitingClients: settings.max_waiting,
        testOnBorrow: true,
        autostart: false,
        // soft idle respects `min`; the hard idle timeout would reap below it.
        softIdleTimeoutMillis: idleMs > 0 ? idleMs : -1,
        evictionRunIntervalMillis: idleMs > 0 ? Math.max(1_000, Math.min(idleMs / 2, 30_000)) : 0,
      },
    );
  }

  /**
   * Takes in a connection the backend made itself (at start or restart, so
   * that a failure there is reported at once instead of after an acquire
   * timeout). generic-pool learns of it through the next create().
   */
  async adopt(connection: Connection): Promise<void> {
    if (this.#closed) {
      await connection.close();
      throw this.#closedError();
    }
    this.#inner.start();
    this.#adopted.push(connection);
    const borrowed = await this.#inner.acquire();
    await this.#inner.release(borrowed);
  }

  /**
   * generic-pool's create: an adopted connection first; otherwise the
   * factory. Failures are paced: generic-pool retries a failed create at
   * once for every waiting caller, which would otherwise spin.
   */
  async #create(): Promise<Connection> {
    const adopted = this.#adopted.shift();
    if (adopted !== undefined) return adopted;
    const sinceFailure = Date.now() - this.#lastCreateFailure;
    if (sinceFailure < CREATE_RETRY_PACE_MS) await sleep(CREATE_RETRY_PACE_MS - sinceFailure);
    if (this.#closed) throw this.#closedError();
    try {
      return await this.#factory.create();
    } catch (err) {
      this.#lastCreateFailure = Date.now();
      throw err;
    }
  }

  /**
   * Runs `fn` on a connection: the least busy one that has room, a new one
   * when all are busy and the pool may grow, or the next that frees up.
   * A slot is reserved (inflight counted) before `fn` runs, so a burst of
   * calls spreads over the connections instead of piling onto one.
   */
  async use<T>(fn: (connection: Connection) => Promise<T>): Promise<T> {
    const connection = await this.#acquire();
    try {
      return await fn(connection);
    } finally {
      connection.inflight -= 1;
      this.#settle(connection);
    }
  }

  stats(): PoolStats {
    let inflight = 0;
    for (const c of this.#active) inflight += c.inflight;
    return {
      size: this.#inner.size,
      available: this.#inner.available,
      active: this.#active.size,
      pending: this.#waiting + this.#inner.pending,
      inflight,
    };
  }

  /** Every live connection, idle or active (for health checks and stats). */
  get activeConnections(): readonly Connection[] {
    return [...this.#active];
  }

  /** Drains and closes every connection. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#closedError());
    }
    this.#closing ??= (async () => {
      for (const c of this.#adopted.splice(0)) await c.close();
      const active = [...this.#active];
      this.#active.clear();
      await Promise.all(active.map((c) => this.#inner.destroy(c).then(undefined, () => undefined)));
      await this.#inner.drain();
      await this.#inner.clear();
    })();
    return this.#closing;
  }

  /** Returns a connection with one slot already reserved for the caller. */
  async #acquire(): Promise<Connection> {
    const deadline = Date.now() + this.#settings.acquire_timeout;
    for (;;) {
      if (this.#closed) throw this.#closedError();
      const shared = this.#leastBusy();
      if (shared !== undefined && (shared.inflight === 0 || !this.#canGrow())) return reserve(shared);
      if (this.#canGrow()) return reserve(await this.#borrow());
      // A connection is being created; it will have room for this call too.
      if (this.#borrowing > 0 && Date.now() < deadline) {
        await this.#borrowSettled();
        continue;
      }
      return this.#wait();
    }
  }

  #canGrow(): boolean {
    return this.#active.size + this.#borrowing < this.#settings.max;
  }

  #borrowSettled(): Promise<void> {
    return new Promise((resolve) => this.#borrowWatchers.push(resolve));
  }

  #leastBusy(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.#active) {
      if (!c.alive || c.inflight >= this.#settings.max_concurrency) continue;
      if (best === undefined || c.inflight < best.inflight) best = c;
    }
    return best;
  }

  async #borrow(): Promise<Connection> {
    this.#borrowing += 1;
    try {
      const connection = await this.#inner.acquire();
      if (this.#closed) {
        void this.#inner.destroy(connection);
        throw this.#closedError();
      }
      this.#active.add(connection);
      return connection;
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw this.#factory.lastError?.() ?? this.#exhausted((err as Error).message);
    } finally {
      this.#borrowing -= 1;
      for (const watcher of this.#borrowWatchers.splice(0)) watcher();
    }
  }

  #wait(): Promise<Connection> {
    if (this.#waiting >= this.#settings.max_waiting) {
      return Promise.reject(this.#exhausted(`${this.#waiting} calls are already waiting`));
    }
    this.#waiting += 1;
    return new Promise<Connection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.#waiters.indexOf(waiter);
          if (at !== -1) this.#waiters.splice(at, 1);
          this.#waiting -= 1;
          reject(this.#exhausted(`no connection freed up within ${this.#settings.acquire_timeout} ms`));
        }, this.#settings.acquire_timeout),
      };
      this.#waiters.push(waiter);
    });
  }

  /** After a call: hand the slot to a waiter, or return an idle connection to generic-pool. */
  #settle(connection: Connection): void {
    if (!connection.alive) {
      if (this.#active.delete(connection)) void this.#inner.destroy(connection).then(undefined, () => undefined);
      this.#wakeWaiters();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      this.#waiting -= 1;
      waiter.resolve(reserve(connection));
      return;
    }
    if (connection.inflight > 0 || !this.#active.has(connection)) return;
    this.#active.delete(connection);
    if (this.#inner.available >= this.#settings.max_idle) void this.#inner.destroy(connection).then(undefined, () => undefined);
    else void this.#inner.release(connection).then(undefined, () => undefined);
  }

  /** A dead connection frees room to grow: waiters borrow a fresh one. */
  #wakeWaiters(): void {
    while (this.#waiters.length > 0 && this.#active.size + this.#borrowing < this.#settings.max) {
      const waiter = this.#waiters.shift() as Waiter;
      clearTimeout(waiter.timer);
      this.#waiting -= 1;
      this.#borrow().then((c) => waiter.resolve(reserve(c)), waiter.reject);
    }
  }

  #exhausted(why: string): GatewayError {
    return new GatewayError(
      'POOL_EXHAUSTED',
      `No connection to backend '${this.#name}' within ${this.#settings.acquire_timeout} ms (${why}); raise [pool] max or acquire_timeout, or lower the load`,
      { retryAfter: 1 },
    );
  }

  #closedError(): GatewayError {
    return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.#name}' is stopping; retry once it is running again`);
  }
}
