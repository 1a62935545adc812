import type { PoolSettings } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { connectFor, connectShared } from './connecting-for.js';
import type { Connection } from './connection.js';
import { type ConnectionFactory, Pool, type PoolStats } from './pool.js';

/** One downstream MCP session, as a backend with affinity = "session" tells sessions apart. */
export interface SessionRef {
  readonly id: string;
  /** True once the session has ended: nothing more is opened for it. */
  readonly ended: boolean;
  /**
   * A 2026-07-28 request without a token: no session and no identity. A
   * backend with affinity = "session" refuses it (it is never shared).
   */
  readonly anonymous?: boolean;
  /**
   * [oauth-out] The caller its connections are made for (a backend with
   * oauth.grant = "token_exchange"): a pool of its own whatever the
   * affinity, its connections made inside connectFor (connecting-for.ts).
   */
  readonly identity?: string;
}

/** The SessionRef of every anonymous 2026-07-28 request. */
export const ANONYMOUS: SessionRef = { id: 'anonymous', ended: true, anonymous: true };

/** Pool gauges of a backend: its shared pool and its sessions' pools added up. */
export interface BackendPoolStats extends PoolStats {
  /** MCP sessions holding connections of their own (affinity = "session"). */
  sessions: number;
}

/** The [pool] of a session: no connection kept open for it, the backend's other settings. */
const sessionSettings = (settings: PoolSettings): PoolSettings => ({ ...settings, min: 0 });

/**
 * A backend's connections by affinity. One shared Pool serves listing,
 * health checks, calls without an MCP session (REST, async dispatch) and,
 * with affinity = "shared", every call. With affinity = "session", the calls
 * of each MCP session run in a Pool of that session's own, so whatever the
 * backend sends on those connections belongs to that session alone. A
 * session's pool closes when the session ends; its connections idle out
 * after idle_timeout like any other; all sessions together hold at most
 * max_session_connections connections, so a flood of sessions cannot start
 * a flood of processes.
 */
export class AffinityPool {
  readonly shared: Pool;
  readonly #name: string;
  readonly #settings: PoolSettings;
  readonly #factory: ConnectionFactory;
  readonly #perSession: boolean;
  readonly #sessions = new Map<string, Pool>();
  readonly #opening = new Map<string, Promise<Pool>>();
  /** Session connections that exist or are being made, over all sessions. */
  #connections = 0;
  #closed = false;

  constructor(name: string, settings: PoolSettings, factory: ConnectionFactory, affinity: 'shared' | 'session') {
    this.#name = name;
    this.#settings = settings;
    this.#factory = factory;
    this.#perSession = affinity === 'session';
    // [oauth-out] A shared connection is never an identity's own, whatever async context asked for it (connecting-for.ts).
    this.shared = new Pool(name, settings, { ...factory, create: () => connectShared(() => factory.create()) });
  }

  /** Takes in the backend's first connection (Pool.adopt), into the shared pool. */
  adopt(connection: Connection): Promise<void> {
    return this.shared.adopt(connection);
  }

  /** Runs `fn` on a connection of the session's own (affinity = "session") or, without a session, a shared one. */
  use<T>(fn: (connection: Connection) => Promise<T>, session?: SessionRef): Promise<T> {
    if (session === undefined || (!this.#perSession && session.identity === undefined)) return this.shared.use(fn);
    if (session.anonymous === true) return Promise.reject(this.#anonymous());
    const pool = this.#sessions.get(session.id);
    if (pool !== undefined) return pool.use(fn);
    return this.#open(session).then((opened) => opened.use(fn));
  }

  /** The session ended: its connections close (calls still on them fail). */
  async endSession(id: string): Promise<void> {
    const pool = this.#sessions.get(id);
    this.#sessions.delete(id);
    await pool?.close();
  }

  /** Resolves true once no call is in flight or waiting in any pool, or false after `ms`. */
  async idle(ms: number): Promise<boolean> {
    const settled = await Promise.all([this.shared, ...this.#sessions.values()].map((p) => p.idle(ms)));
    return settled.every(Boolean);
  }

  stats(): BackendPoolStats {
    const total: BackendPoolStats = { ...this.shared.stats(), sessions: this.#sessions.size };
    for (const pool of this.#sessions.values()) {
      const s = pool.stats();
      total.size += s.size;
      total.available += s.available;
      total.active += s.active;
      total.pending += s.pending;
      total.inflight += s.inflight;
    }
    return total;
  }

  /** Closes every pool. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const pools = [this.shared, ...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  /** One opening per session, however many of its calls arrive together. */
  #open(session: SessionRef): Promise<Pool> {
    let opening = this.#opening.get(session.id);
    if (opening === undefined) {
      opening = this.#first(session).finally(() => this.#opening.delete(session.id));
      this.#opening.set(session.id, opening);
    }
    return opening;
  }

  /**
   * A session's first connection is made here and adopted, not left to the
   * pool: a full cap or a failed start answers the call at once instead of
   * after acquire_timeout.
   */
  async #first(session: SessionRef): Promise<Pool> {
    const connection = await this.#create(session);
    if (session.ended || this.#closed) {
      await connection.close();
      throw this.#ended();
    }
    const pool = new Pool(this.#name, sessionSettings(this.#settings), {
      create: () => this.#create(session),
      lastError: () => this.#factory.lastError?.(),
      holdOff: () => this.#factory.holdOff?.() === true,
    });
    this.#sessions.set(session.id, pool);
    try {
      await pool.adopt(connection);
    } catch (err) {
      if (this.#sessions.get(session.id) === pool) this.#sessions.delete(session.id);
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Makes a connection for a session, within max_session_connections. */
  async #create(session: SessionRef): Promise<Connection> {
    if (session.ended || this.#closed) throw this.#ended();
    const cap = this.#settings.max_session_connections;
    if (this.#connections >= cap) {
      throw new GatewayError(
        'POOL_EXHAUSTED',
        `Backend '${this.#name}' already has ${this.#connections} connections for MCP sessions${session.identity === undefined ? '' : ' and token_exchange callers'} ([pool] max_session_connections = ${cap}); end the MCP sessions that are done (their connections close with them, idle ones after idle_timeout) or raise max_session_connections`,
        { retryAfter: 1 },
      );
    }
    this.#connections += 1;
    let connection: Connection;
    try {
      connection = await (session.identity === undefined ? this.#factory.create() : connectFor(session, () => this.#factory.create()));
    } catch (err) {
      this.#connections -= 1;
      throw err;
    }
    connection.session = session.id;
    void connection.ended.then(() => {
      this.#connections -= 1;
      this.#dropIfEmpty(session.id);
    });
    return connection;
  }

  /** A session whose last connection idled out (or died) with no call left lets go of its pool. */
  #dropIfEmpty(id: string): void {
    const pool = this.#sessions.get(id);
    // A pool being opened (its first connection not adopted yet) looks empty too.
    if (pool === undefined || this.#opening.has(id)) return;
    const s = pool.stats();
    if (s.size > 0 || s.inflight > 0 || s.pending > 0) return;
    this.#sessions.delete(id);
    void pool.close();
  }

  /** Why an anonymous 2026-07-28 request is refused, and the fix. */
  #anonymous(): GatewayError {
    return new GatewayError(
      'SESSION_AFFINITY_NEEDS_IDENTITY',
      `Backend '${this.#name}' has affinity = "session" (a process of its own per client) and this MCP 2026-07-28 request has neither a session nor a token to key one on; turn on [auth] and call with a token (each token gets its own process), or connect with a 2025-era MCP session (initialize)`,
    );
  }

  /** Why nothing more is opened for a session: it ended, or the backend is stopping. */
  #ended(): GatewayError {
    if (this.#closed) return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${this.#name}' is stopping; retry once it is running again`);
    return new GatewayError('BACKEND_UNAVAILABLE', `The MCP session ended before backend '${this.#name}' could serve it; open a new session`);
  }
}
