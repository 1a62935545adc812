import genericPool from 'generic-pool';
import type { PoolSettings } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Connection } from './connection.js';
import { WaitQueue } from './wait-queue.js';

/** Makes connections for a pool; the supervisor's backend supplies it. */
export interface ConnectionFactory {
  create(): Promise<Connection>;
  /** Why the last create() failed, if it did; reported instead of a bare acquire timeout. */
  lastError?(): GatewayError | undefined;
  /**
   * True while new connections are held back (the backend's restart backoff
   * after a crash): calls then share the live connections instead of waiting
   * for a new one.
   */
  holdOff?(): boolean;
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

interface Adoption {
  connection: Connection;
  /** Whether generic-pool has it (create() returned it). */
  handed: boolean;
  settled: () => void;
  refused: (error: Error) => void;
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
  readonly #waiters: WaitQueue<Connection>;
  /** Adopted connections generic-pool has not created yet, in order. */
  readonly #adopted: Adoption[] = [];
  /** Adoptions not yet settled, whether handed or not. */
  readonly #adopting = new Map<Connection, Adoption>();
  readonly #borrowWatchers: (() => void)[] = [];
  /** Calls growing the pool, told when a create() fails. */
  readonly #createFailed = new Set<() => void>();
  #lastCreateFailure = 0;
  #borrowing = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Borrows still waiting in generic-pool, told to give up when the pool closes. */
  readonly #closers = new Set<() => void>();

  constructor(name: string, settings: PoolSettings, factory: ConnectionFactory) {
    this.#name = name;
    this.#settings = settings;
    this.#factory = factory;
    this.#waiters = new WaitQueue<Connection>(settings.max_waiting, settings.acquire_timeout, {
      full: (waiting) => this.#exhausted(`${waiting} calls are already waiting`),
      timedOut: () => this.#exhausted(`no connection freed up within ${settings.acquire_timeout} ms`),
    });
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
        // soft idle respects `min`; the hard idle timeout would reap below
        // it, and generic-pool's default for it is 30 s: off (it has no 0).
        softIdleTimeoutMillis: idleMs > 0 ? idleMs : -1,
        idleTimeoutMillis: Number.MAX_SAFE_INTEGER,
        evictionRunIntervalMillis: idleMs > 0 ? Math.max(1_000, Math.min(idleMs / 2, 30_000)) : 0,
      },
    );
  }

  /**
   * Takes in a connection the backend made itself (at start or restart, so
   * that a failure there is reported at once instead of after an acquire
   * timeout). generic-pool learns of it through the create() that an
   * acquire here provokes. Resolves once the connection is in the pool:
   * this acquire got it back, or a call that was already waiting for a
   * connection when the backend restarted borrowed it first.
   */
  async adopt(connection: Connection): Promise<void> {
    if (this.#closed) {
      await connection.close();
      throw this.#closedError();
    }
    this.#inner.start();
    let timer: NodeJS.Timeout | undefined;
    const inPool = new Promise<void>((resolve, reject) => {
      const adoption: Adoption = { connection, settled: resolve, refused: reject, handed: false };
      this.#adopted.push(adoption);
      this.#adopting.set(connection, adoption);
      this.#inner.acquire().then(
        (borrowed) => {
          void this.#inner.release(borrowed).then(undefined, () => undefined);
          // Served by another connection before generic-pool asked for this
          // one: the pool has what it needs, the newcomer goes.
          if (!adoption.handed) this.#dropAdoption(adoption);
          resolve();
        },
        () => undefined,
      );
      // Bounded like any acquire: a pool that never takes it in refuses it.
      timer = setTimeout(() => {
        if (adoption.handed) return resolve();
        this.#dropAdoption(adoption);
        reject(this.#exhausted('the pool had no room for the new connection'));
      }, this.#settings.acquire_timeout);
    });
    try {
      await inPool;
    } finally {
      clearTimeout(timer);
      this.#adopting.delete(connection);
    }
  }

  #dropAdoption(adoption: Adoption): void {
    const at = this.#adopted.indexOf(adoption);
    if (at !== -1) this.#adopted.splice(at, 1);
    void adoption.connection.close();
  }

  /**
   * generic-pool's create: an adopted connection first; otherwise the
   * factory. Failures are paced: generic-pool retries a failed create at
   * once for every waiting caller, which would otherwise spin.
   */
  async #create(): Promise<Connection> {
    const adopted = this.#adopted.shift();
    if (adopted !== undefined) {
      adopted.handed = true;
      return adopted.connection;
    }
    const sinceFailure = Date.now() - this.#lastCreateFailure;
    if (sinceFailure < CREATE_RETRY_PACE_MS) await sleep(CREATE_RETRY_PACE_MS - sinceFailure);
    if (this.#closed) {
      this.#lastCreateFailure = Date.now(); // paced too: waiters of a closed pool retry until they time out
      throw this.#closedError();
    }
    try {
      return await this.#factory.create();
    } catch (err) {
      this.#lastCreateFailure = Date.now();
      for (const notify of [...this.#createFailed]) notify();
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

  /** Resolves true once no call is in flight or waiting, or false after `ms`. */
  async idle(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.stats().inflight > 0 || this.#waiters.length > 0) {
      if (Date.now() >= deadline) return false;
      await sleep(20);
    }
    return true;
  }

  stats(): PoolStats {
    let inflight = 0;
    for (const c of this.#active) inflight += c.inflight;
    return {
      size: this.#inner.size,
      available: this.#inner.available,
      active: this.#active.size,
      pending: this.#waiters.length + this.#inner.pending,
      inflight,
    };
  }

  /** The connections carrying calls now (idle ones rest inside generic-pool). */
  get activeConnections(): readonly Connection[] {
    return [...this.#active];
  }

  /** Drains and closes every connection. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    for (const giveUp of [...this.#closers]) giveUp();
    this.#waiters.rejectAll(this.#closedError());
    this.#closing ??= (async () => {
      for (const a of this.#adopted.splice(0)) await a.connection.close();
      for (const a of this.#adopting.values()) a.refused(this.#closedError());
      const active = [...this.#active];
      this.#active.clear();
      await Promise.all(active.map((c) => this.#inner.destroy(c).then(undefined, () => undefined)));
      // drain() settles only when every acquire still queued in generic-pool
      // has (those borrows have given up already, above, but their requests
      // run until acquire_timeout): not awaited. It stops the evictor and
      // min refills; clear() closes the idle connections.
      void this.#inner.drain().then(undefined, () => undefined);
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
      if (this.#canGrow()) return reserve(await this.#growOrShare());
      // A connection is being created; it will have room for this call too.
      if (this.#borrowing > 0 && Date.now() < deadline) {
        await this.#borrowSettled();
        continue;
      }
      return this.#waiters.wait();
    }
  }

  /**
   * Borrows a new connection. When making it fails (generic-pool would keep
   * retrying until the acquire timeout) and a live connection has room,
   * that one serves the call at once; the borrow goes on and returns what
   * it gets to the pool.
   */
  async #growOrShare(): Promise<Connection> {
    const borrow = this.#borrow();
    let notify: () => void = () => undefined;
    const createFailed = new Promise<'failed'>((resolve) => {
      notify = () => resolve('failed');
      this.#createFailed.add(notify);
    });
    try {
      const first = await Promise.race([borrow, createFailed]);
      if (first !== 'failed') return first;
      const shared = this.#leastBusy();
      if (shared === undefined) return await borrow;
      borrow.then(
        (connection) => this.#settle(connection),
        () => undefined,
      );
      return shared;
    } catch (err) {
      const shared = this.#leastBusy();
      if (shared === undefined) throw err;
      return shared;
    } finally {
      this.#createFailed.delete(notify);
    }
  }

  #canGrow(): boolean {
    if (this.#active.size + this.#borrowing >= this.#settings.max) return false;
    return this.#factory.holdOff?.() !== true || this.#leastBusy() === undefined;
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
    // A promise per borrow, not one for the pool's life: a race against a
    // promise that stays pending would keep every borrow it saw alive.
    let giveUp: () => void = () => undefined;
    const closed = new Promise<never>((_resolve, reject) => {
      giveUp = () => reject(this.#closedError());
      this.#closers.add(giveUp);
    });
    try {
      const acquiring = this.#inner.acquire();
      // Whatever a request that outlived its borrow gets goes straight back.
      const late = (c: Connection): void => void this.#inner.destroy(c).then(undefined, () => undefined);
      const connection = await Promise.race([acquiring, closed]).catch((err: unknown) => {
        acquiring.then(late, () => undefined);
        throw err;
      });
      if (this.#closed) {
        void this.#inner.destroy(connection);
        throw this.#closedError();
      }
      this.#active.add(connection);
      this.#adopting.get(connection)?.settled();
      return connection;
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw this.#factory.lastError?.() ?? this.#exhausted((err as Error).message);
    } finally {
      this.#closers.delete(giveUp);
      this.#borrowing -= 1;
      for (const watcher of this.#borrowWatchers.splice(0)) watcher();
    }
  }

  /** After a call: hand the slot to a waiter, or return an idle connection to generic-pool. */
  #settle(connection: Connection): void {
    if (!connection.alive) {
      if (this.#active.delete(connection)) void this.#inner.destroy(connection).then(undefined, () => undefined);
      this.#wakeWaiters();
      return;
    }
    const waiter = this.#waiters.take();
    if (waiter !== undefined) return waiter.resolve(reserve(connection));
    if (connection.inflight > 0 || !this.#active.has(connection)) return;
    this.#active.delete(connection);
    if (this.#inner.available >= this.#settings.max_idle) void this.#inner.destroy(connection).then(undefined, () => undefined);
    else void this.#inner.release(connection).then(undefined, () => undefined);
  }

  /** A dead connection frees room to grow: waiters borrow a fresh one. */
  #wakeWaiters(): void {
    while (this.#waiters.length > 0 && this.#active.size + this.#borrowing < this.#settings.max) {
      const waiter = this.#waiters.take();
      if (waiter === undefined) return;
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
