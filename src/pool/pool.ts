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

/**
 * The connections of one backend, in the style of undici's Pool: a plain
 * list of connections, each shared by up to `max_concurrency` calls (MCP
 * multiplexes requests over one link). A call takes the least busy
 * connection that has room; a new connection is made as soon as every
 * existing one is busy and `max` allows, so that `max` processes share the
 * load of a backend that works serially; with none free and no room to
 * grow, the call waits (WaitQueue) for a slot. Connections that idle past
 * idle_timeout close, down to `min`; more than `max_idle` idle ones close
 * at once; a dead one is dropped when seen.
 */
export class Pool {
  readonly #name: string;
  readonly #settings: PoolSettings;
  readonly #factory: ConnectionFactory;
  /** Every connection the pool holds, busy or idle, in the order made. */
  readonly #connections: Connection[] = [];
  /** When each idle connection became idle (for idle_timeout). */
  readonly #idleSince = new Map<Connection, number>();
  readonly #waiters: WaitQueue<Connection>;
  /** Told when the pool changes (a connection made, adopted or freed, a create failed): calls waiting to grow or share, idle(). */
  #changed: (() => void)[] = [];
  #creating = 0;
  /** Calls that found no slot at once: waiting for one, for a connection being made, or for the next try to make one. */
  #growing = 0;
  #lastCreateFailure = 0;
  #lastCreateError: unknown;
  #started = false;
  #reaper: NodeJS.Timeout | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(name: string, settings: PoolSettings, factory: ConnectionFactory) {
    this.#name = name;
    this.#settings = settings;
    this.#factory = factory;
    this.#waiters = new WaitQueue<Connection>(settings.max_waiting, settings.acquire_timeout, {
      full: (waiting) => this.#exhausted(`${waiting} calls are already waiting`),
      timedOut: () => this.#exhausted(`no connection freed up within ${settings.acquire_timeout} ms`),
    });
  }

  /**
   * Takes in a connection the backend made itself (at start or restart, so
   * that a failure there is reported at once instead of after an acquire
   * timeout), and from then on keeps `min` connections. A call already
   * waiting for a connection gets it first.
   */
  async adopt(connection: Connection): Promise<void> {
    // Bounded like any acquire: a connection being made may fail and leave room; a pool that never has room refuses it.
    const deadline = Date.now() + this.#settings.acquire_timeout;
    for (;;) {
      this.#prune();
      if (!this.#closed && this.#connections.length + this.#creating < this.#settings.max) break;
      if (this.#closed || this.#creating === 0 || Date.now() >= deadline) {
        await connection.close();
        throw this.#closed ? this.#closedError() : this.#exhausted('the pool had no room for the new connection');
      }
      await this.#waitChanged(deadline);
    }
    this.#add(connection, true);
    this.#started = true;
    this.#fillToMin();
  }

  /**
   * Runs `fn` on a connection: the least busy one that has room, a new one
   * when all are busy and the pool may grow, or the next that frees up.
   * A slot is reserved (inflight counted) before `fn` runs, so a burst of
   * calls spreads over the connections instead of piling onto one.
   */
  async use<T>(fn: (connection: Connection) => Promise<T>): Promise<T> {
    let connection = this.#take();
    if (connection === undefined) {
      this.#growing += 1;
      try {
        connection = await this.#acquire();
      } finally {
        this.#growing -= 1;
      }
    }
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
    while (!this.#isQuiet()) {
      if (Date.now() >= deadline) return false;
      await this.#waitChanged(deadline);
    }
    return true;
  }

  stats(): PoolStats {
    let inflight = 0;
    let active = 0;
    for (const c of this.#connections) {
      inflight += c.inflight;
      if (c.inflight > 0) active += 1;
    }
    const size = this.#connections.length + this.#creating;
    return { size, available: this.#connections.length - active, active, pending: this.#growing, inflight };
  }

  /** The connections carrying calls now. */
  get activeConnections(): readonly Connection[] {
    return this.#connections.filter((c) => c.inflight > 0);
  }

  /** Drains and closes every connection. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reaper);
    this.#waiters.rejectAll(this.#closedError());
    this.#notifyChanged();
    this.#closing ??= (async () => {
      const all = this.#connections.splice(0);
      this.#idleSince.clear();
      await Promise.all(all.map((c) => c.close()));
    })();
    return this.#closing;
  }

  /** A slot on a live connection when one can take the call now without growing; undefined otherwise. */
  #take(): Connection | undefined {
    if (this.#closed) return undefined;
    const shared = this.#leastBusy();
    if (shared !== undefined && (shared.inflight === 0 || !this.#canGrow())) {
      this.#idleSince.delete(shared);
      return reserve(shared);
    }
    return undefined;
  }

  /** Returns a connection with one slot already reserved for the caller. */
  async #acquire(): Promise<Connection> {
    const deadline = Date.now() + this.#settings.acquire_timeout;
    this.#started = true;
    for (;;) {
      if (this.#closed) throw this.#closedError();
      this.#prune();
      const taken = this.#take();
      if (taken !== undefined) return taken;
      if (this.#canGrow()) {
        const made = await this.#growOrShare(deadline);
        if (made !== undefined) return made;
        continue;
      }
      // A connection is being made; it will have room for this call too.
      if (this.#creating > 0 && Date.now() < deadline) {
        await this.#waitChanged(deadline);
        continue;
      }
      return this.#waiters.wait();
    }
  }

  /**
   * Makes a new connection for this call. When making it fails, or failed
   * a moment ago (tries are paced), and a live connection has room, that
   * one serves the call at once; with none, the call tries again until its
   * acquire deadline, unless a connection turns up meanwhile (undefined:
   * look again).
   */
  async #growOrShare(deadline: number): Promise<Connection | undefined> {
    const pace = this.#lastCreateFailure + CREATE_RETRY_PACE_MS - Date.now();
    if (pace <= 0) {
      try {
        return await this.#create(true);
      } catch (err) {
        this.#lastCreateError = err;
        if (this.#closed) throw this.#closedError();
      }
    }
    const shared = this.#leastBusy();
    if (shared !== undefined) {
      this.#idleSince.delete(shared);
      return reserve(shared);
    }
    const now = Date.now();
    if (now >= deadline) {
      const err = this.#lastCreateError;
      throw err instanceof GatewayError
        ? err
        : (this.#factory.lastError?.() ?? this.#exhausted((err as Error | undefined)?.message ?? 'no connection could be made'));
    }
    await this.#waitChanged(Math.min(deadline, now + Math.max(pace, CREATE_RETRY_PACE_MS)));
    return undefined;
  }

  /**
   * A new connection from the factory, in the pool: with a slot reserved
   * for the call that asked (`forCall`), or else handed to a waiting call
   * or left idle. The time of a failure paces the next try (#growOrShare).
   */
  async #create(forCall: boolean): Promise<Connection> {
    this.#creating += 1;
    try {
      const connection = await this.#factory.create();
      if (this.#closed) {
        void connection.close();
        throw this.#closedError();
      }
      if (forCall) reserve(connection);
      this.#add(connection, !forCall);
      return connection;
    } catch (err) {
      if (!this.#closed) this.#lastCreateFailure = Date.now();
      throw err instanceof GatewayError || this.#factory.lastError === undefined ? err : (this.#factory.lastError() ?? err);
    } finally {
      this.#creating -= 1;
      this.#notifyChanged();
    }
  }

  /** Puts a connection in the pool; an idle newcomer (adopted, or made to keep `min`) goes to a waiting call first. */
  #add(connection: Connection, toWaiter: boolean): void {
    this.#connections.push(connection);
    if (connection.inflight === 0) this.#idleSince.set(connection, Date.now());
    this.#armReaper();
    this.#notifyChanged();
    const waiter = toWaiter ? this.#waiters.take() : undefined;
    if (waiter !== undefined) {
      this.#idleSince.delete(connection);
      waiter.resolve(reserve(connection));
    }
  }

  #canGrow(): boolean {
    if (this.#connections.length + this.#creating >= this.#settings.max) return false;
    return this.#factory.holdOff?.() !== true || this.#leastBusy() === undefined;
  }

  #leastBusy(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.#connections) {
      if (c.inflight >= this.#settings.max_concurrency || !c.alive) continue;
      if (best === undefined || c.inflight < best.inflight) best = c;
    }
    return best;
  }

  /** Drops the connections whose link has ended (closing them), keeping `min` in the background. */
  #prune(): void {
    const dead = this.#connections.filter((c) => !c.alive);
    for (const c of dead) this.#remove(c);
    if (dead.length > 0) this.#fillToMin();
  }

  /** After a call: hand the slot to a waiter, or let the connection idle (or close it, past max_idle). */
  #settle(connection: Connection): void {
    if (!connection.alive) {
      this.#prune();
      this.#wakeWaiters();
    } else {
      const waiter = this.#waiters.take();
      if (waiter !== undefined) waiter.resolve(reserve(connection));
      else if (connection.inflight === 0 && this.#connections.includes(connection)) {
        if (this.stats().available > this.#settings.max_idle) this.#remove(connection);
        else {
          this.#idleSince.set(connection, Date.now());
          this.#armReaper();
        }
      }
    }
    this.#notifyChanged();
  }

  /** A dead connection frees room to grow: waiters get a fresh one. */
  #wakeWaiters(): void {
    while (this.#waiters.length > 0 && this.#canGrow()) {
      const waiter = this.#waiters.take();
      if (waiter === undefined) return;
      this.#acquire().then(waiter.resolve, waiter.reject);
    }
  }

  #remove(connection: Connection): void {
    const at = this.#connections.indexOf(connection);
    if (at !== -1) this.#connections.splice(at, 1);
    this.#idleSince.delete(connection);
    void connection.close();
  }

  /** Keeps `min` connections once started (failures are left to the next call). */
  #fillToMin(): void {
    if (!this.#started || this.#closed) return;
    for (let n = this.#connections.length + this.#creating; n < Math.min(this.#settings.min, this.#settings.max); n += 1) {
      this.#create(false).catch(() => undefined);
    }
  }

  /** Closes connections idle past idle_timeout, down to `min`; checks again while any is idle. */
  #armReaper(): void {
    const idleMs = this.#settings.idle_timeout * 1000;
    if (idleMs <= 0 || this.#reaper !== undefined || this.#closed) return;
    const every = Math.max(1_000, Math.min(idleMs / 2, 30_000));
    this.#reaper = setTimeout(() => {
      this.#reaper = undefined;
      const now = Date.now();
      for (const [c, since] of [...this.#idleSince]) {
        if (this.#connections.length <= this.#settings.min) break;
        if (c.inflight === 0 && now - since >= idleMs) this.#remove(c);
      }
      if (this.#idleSince.size > 0) this.#armReaper();
    }, every);
    this.#reaper.unref();
  }

  #isQuiet(): boolean {
    return this.#waiters.length === 0 && this.#growing === 0 && this.#connections.every((c) => c.inflight === 0);
  }

  /** Waits until the pool changes or `until` (a time) passes. */
  #waitChanged(until: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, until - Date.now()));
      this.#changed.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #notifyChanged(): void {
    if (this.#changed.length === 0) return;
    const told = this.#changed;
    this.#changed = [];
    for (const tell of told) tell();
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
