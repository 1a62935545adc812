import type { GatewayDatabase } from './database.js';

export type CallState = 'pending' | 'running' | 'complete' | 'failed' | 'cancelled';

/** One async call as it is stored. */
export interface AsyncCall {
  id: string;
  state: CallState;
  server: string;
  tool: string;
  caller: string | null;
  owner: string | null;
  submitted_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** ms since epoch after which a finished call is gone; null while it runs. */
  expires_at: number | null;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  progress: { progress: number; total?: number; message?: string } | null;
}

/**
 * Where async calls live. Every state change is written before it is
 * acknowledged, so a finished result survives a gateway restart; an
 * interface so that a shared PostgreSQL store can take its place.
 */
/** Which calls a list keeps, applied before its limit (so a page is full when enough calls match). */
export interface CallFilter {
  /** Only pending and running calls. */
  active?: boolean;
  /** Only calls to these backends (a token limited to backends). */
  servers?: readonly string[];
  /** Only calls not expired at this time (ms since the epoch). */
  now?: number;
}

export interface DispatchStore {
  insert(call: AsyncCall): Promise<void>;
  update(call: AsyncCall): Promise<void>;
  /**
   * Records that these calls started running (a batch: one transaction or
   * statement). A call no longer pending (it finished first) is left as it is.
   */
  markRunning(calls: readonly Pick<AsyncCall, 'id' | 'started_at'>[]): Promise<void>;
  get(id: string): Promise<AsyncCall | undefined>;
  /** Newest first; `limit` counts only the calls `filter` keeps. */
  list(owner: string | null, limit: number, before?: string, filter?: CallFilter): Promise<AsyncCall[]>;
  count(): Promise<number>;
  /** Deletes finished calls whose time is up; returns how many. */
  expire(now: number): Promise<number>;
  /** At start: calls left pending or running by a previous gateway become failed/INTERRUPTED. */
  interruptUnfinished(now: number, ttlMs: number): Promise<number>;
  /** Shared stores: resolves when another gateway stores `id` finished, or after `timeoutMs` or an abort. */
  waitFinished?(id: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Shared stores: asks whichever gateway runs `id` to cancel it. */
  requestCancel?(id: string): Promise<void>;
  /** Shared stores: `cancel` is called with each call id some gateway asked to cancel. */
  onCancelRequest?(cancel: (id: string) => void): void;
}

/** A stored row (both engines): the call with its JSON fields as text and the error in two columns. */
export type Row = Omit<AsyncCall, 'result' | 'error' | 'progress'> & {
  result: string | null;
  error_code: string | null;
  error_message: string | null;
  progress: string | null;
};

/** A stored row as a call. */
export function fromRow(r: Row): AsyncCall {
  const { error_code, error_message, ...rest } = r;
  return {
    ...rest,
    result: r.result === null ? null : (JSON.parse(r.result) as Record<string, unknown>),
    error: error_code === null ? null : { code: error_code, message: error_message ?? '' },
    progress: r.progress === null ? null : (JSON.parse(r.progress) as AsyncCall['progress']),
  };
}

/** A call as a row to store. */
export function toParams(c: AsyncCall): Row {
  const { error: _error, ...rest } = c;
  return {
    ...rest,
    result: c.result === null ? null : JSON.stringify(c.result),
    error_code: c.error?.code ?? null,
    error_message: c.error?.message ?? null,
    progress: c.progress === null ? null : JSON.stringify(c.progress),
  };
}

/** The stored columns, in the order both engines use. */
export const COLUMNS = 'id, state, server, tool, caller, owner, submitted_at, started_at, finished_at, expires_at, result, error_code, error_message, progress';

/** SQL (both engines) for the message of a call its gateway left unfinished. */
export const INTERRUPTED_MESSAGE =
  "'The gateway stopped while this call was ' || state || '; it may or may not have run at the backend. Submit it again if it is safe to repeat.'";

export class SqliteDispatchStore implements DispatchStore {
  readonly #db: GatewayDatabase;
  readonly #insert;
  readonly #update;
  readonly #get;
  readonly #running;

  constructor(db: GatewayDatabase) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO async_calls (${COLUMNS}) VALUES (${COLUMNS.split(', ')
        .map((c) => `@${c}`)
        .join(', ')})`,
    );
    this.#update = db.prepare(
      `UPDATE async_calls SET ${COLUMNS.split(', ')
        .filter((c) => c !== 'id')
        .map((c) => `${c} = @${c}`)
        .join(', ')} WHERE id = @id`,
    );
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM async_calls WHERE id = ?`);
    const running = db.prepare("UPDATE async_calls SET state = 'running', started_at = ? WHERE id = ? AND state = 'pending'");
    this.#running = db.transaction((calls: readonly Pick<AsyncCall, 'id' | 'started_at'>[]) => {
      for (const c of calls) running.run(c.started_at, c.id);
    });
  }

  async insert(call: AsyncCall): Promise<void> {
    this.#insert.run(toParams(call));
  }

  async update(call: AsyncCall): Promise<void> {
    this.#update.run(toParams(call));
  }

  async markRunning(calls: readonly Pick<AsyncCall, 'id' | 'started_at'>[]): Promise<void> {
    this.#running(calls);
  }

  async get(id: string): Promise<AsyncCall | undefined> {
    const row = this.#get.get(id) as Row | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  async list(owner: string | null, limit: number, before?: string, filter: CallFilter = {}): Promise<AsyncCall[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (owner !== null) {
      where.push('owner = ?');
      params.push(owner);
    }
    if (before !== undefined) {
      where.push('submitted_at < ?');
      params.push(before);
    }
    if (filter.active === true) where.push("state IN ('pending', 'running')");
    if (filter.servers !== undefined) {
      where.push(`server IN (${filter.servers.map(() => '?').join(', ') || 'NULL'})`);
      params.push(...filter.servers);
    }
    if (filter.now !== undefined) {
      where.push('(expires_at IS NULL OR expires_at > ?)');
      params.push(filter.now);
    }
    const sql = `SELECT ${COLUMNS} FROM async_calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY submitted_at DESC, id LIMIT ?`;
    return (this.#db.prepare(sql).all(...params, limit) as Row[]).map(fromRow);
  }

  async count(): Promise<number> {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM async_calls').get() as { n: number }).n;
  }

  async expire(now: number): Promise<number> {
    return this.#db.prepare('DELETE FROM async_calls WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now).changes;
  }

  async interruptUnfinished(now: number, ttlMs: number): Promise<number> {
    return this.#db
      .prepare(
        `UPDATE async_calls SET state = 'failed', error_code = 'INTERRUPTED',
           error_message = ${INTERRUPTED_MESSAGE},
           finished_at = ?, expires_at = ? WHERE state IN ('pending', 'running')`,
      )
      .run(new Date(now).toISOString(), now + ttlMs).changes;
  }
}
