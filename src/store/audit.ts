import type { AuditSettings } from '../config/schema.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { GatewayDatabase } from './database.js';

/** One row of the audit log, as GET /log shows it: a call record (src/router/call-log.ts) and the size of its arguments. */
export interface AuditEntry extends Omit<AuditDbRow, 'retried' | 'arguments' | 'trace_id'> {
  retried?: boolean;
  /** [otel] The call's trace id, when it had one (tracing on, or a caller's trace context). */
  trace_id?: string;
  /** The arguments, only with [audit] arguments = true. */
  arguments?: unknown;
}

/** GET /log filters. */
export interface AuditQuery {
  limit: number;
  server?: string;
  status?: string;
  agent?: string;
  /** ms since epoch: only calls at or after it. */
  since?: number;
  /** Only these backends (a token limited to backends). */
  servers?: ReadonlySet<string>;
}

/** How a call ended: a call record's status (src/router/call-log.ts). */
export type CallOutcome = 'success' | 'error' | 'timeout';

/**
 * One row as the stores read it back: the fields of a call record the log
 * keeps (declared here rather than imported: the stores sit below the router).
 */
export interface AuditDbRow {
  time: string;
  agent: string | null;
  server: string;
  tool: string;
  status: CallOutcome;
  code: ErrorCode | null;
  duration_ms: number;
  /** Size of the call's arguments as JSON, in bytes (null when unknown). */
  args_bytes: number | null;
  retried: number;
  arguments: string | null;
  trace_id: string | null;
}

const FLUSH_MS = 50;
const FLUSH_ROWS = 500;
const SWEEP_MS = 3_600_000;

/** One row as stored: at_ms, time, agent, server, tool, status, code, duration_ms, args_bytes, retried, arguments, trace_id. */
export type AuditRow = [number, string, string | null, string, string, string, string | null, number, number | null, number, string | null, string | null];

export const AUDIT_COLUMNS = 'at_ms, time, agent, server, tool, status, code, duration_ms, args_bytes, retried, arguments, trace_id';

/**
 * Where the audit log's rows are kept: data_dir/stonegate.db
 * (SqliteAuditStore below), or the PostgreSQL that several gateways share
 * (src/store/pg/audit-store.ts), so that GET /log on any of them shows the
 * calls of all.
 */
export interface AuditStore {
  insert(rows: readonly AuditRow[]): Promise<void>;
  /** Newest first. */
  recent(query: AuditQuery): Promise<AuditEntry[]>;
  /** Oldest first, a page at a time. */
  export(query: ExportQuery): AsyncIterable<AuditEntry>;
  /** Deletes the rows before `cutoffMs`. */
  expire(cutoffMs: number): Promise<void>;
}

export type ExportQuery = Omit<AuditQuery, 'limit'> & { limit?: number };

/**
 * Every finished tool call (time, token, server, tool, status, error code,
 * duration, argument size), kept for retention_days. Rows are written in
 * batches (every 50 ms or 500 rows, in one transaction) off the call's
 * path, in order; a read writes what is queued first.
 */
export class AuditLog {
  readonly #store: AuditStore;
  readonly #settings: Readonly<AuditSettings>;
  readonly #log: Logger;
  #pending: AuditRow[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The writes so far, in order: the next one waits for this. */
  #written: Promise<void> = Promise.resolve();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(store: AuditStore, settings: Readonly<AuditSettings>, logger: Logger) {
    this.#store = store;
    this.#settings = settings;
    this.#log = logger;
    void this.expire();
    this.#sweep = setInterval(() => void this.expire(), SWEEP_MS);
    this.#sweep.unref();
  }

  /** [speed] The last `time` parsed and its ms: the calls answered in one read of a backend's output share their millisecond. */
  #lastTime = '';
  #lastAt = 0;

  /** Queues one call for writing. */
  record(entry: AuditEntry): void {
    if (this.#closed) return;
    if (entry.time !== this.#lastTime) {
      this.#lastAt = Date.parse(entry.time);
      this.#lastTime = entry.time;
    }
    const at = this.#lastAt;
    const args = this.#settings.arguments && entry.arguments !== undefined ? JSON.stringify(entry.arguments) : null;
    this.#pending.push([
      at,
      entry.time,
      entry.agent,
      entry.server,
      entry.tool,
      entry.status,
      entry.code,
      entry.duration_ms,
      entry.args_bytes,
      entry.retried === true ? 1 : 0,
      args,
      entry.trace_id ?? null,
    ]);
    if (this.#pending.length >= FLUSH_ROWS) void this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.#timer.unref();
    }
  }

  /** Writes what is queued; resolves once it (and every earlier write) is stored. A failed write is logged, not thrown. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length > 0) {
      const rows = this.#pending;
      this.#pending = [];
      this.#written = this.#written.then(() =>
        this.#store.insert(rows).catch((err: unknown) => this.#log.error({ err, rows: rows.length }, 'could not write the audit log')),
      );
    }
    return this.#written;
  }

  /**
   * Deletes rows older than retention_days (0: keep everything). It runs in
   * order with the writes (on PostgreSQL they may take different pool
   * connections): a sweep started before a write cannot delete that write's rows.
   */
  expire(): Promise<void> {
    if (this.#settings.retention_days <= 0) return Promise.resolve();
    this.#written = this.#written.then(() =>
      this.#store
        .expire(Date.now() - this.#settings.retention_days * 86_400_000)
        .catch((err: unknown) => this.#log.error({ err }, 'could not expire the audit log')),
    );
    return this.#written;
  }

  /** Newest first, filtered. */
  async recent(query: AuditQuery): Promise<AuditEntry[]> {
    await this.flush();
    return this.#store.recent(query);
  }

  /** Oldest first, filtered, a page at a time (GET /log?format=jsonl). */
  async *export(query: ExportQuery): AsyncGenerator<AuditEntry> {
    await this.flush();
    yield* this.#store.export(query);
  }

  /** Writes what is queued and stops the timers (before the database closes). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    await this.flush();
  }
}

/** The audit log in data_dir/stonegate.db. */
export class SqliteAuditStore implements AuditStore {
  readonly #db: GatewayDatabase;
  /** [speed] The batch insert, its statement prepared once (at the first write): preparing it for every batch was ~2 % of a call's CPU. */
  #insertBatch: ((rows: readonly AuditRow[]) => void) | undefined;

  constructor(db: GatewayDatabase) {
    this.#db = db;
  }

  async insert(rows: readonly AuditRow[]): Promise<void> {
    if (this.#insertBatch === undefined) {
      const insert = this.#db.prepare(`INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      this.#insertBatch = this.#db.transaction((batch: readonly AuditRow[]) => {
        for (const row of batch) insert.run(...row);
      });
    }
    this.#insertBatch(rows);
  }

  async recent(query: AuditQuery): Promise<AuditEntry[]> {
    const { sql, params } = auditWhere(query, () => '?');
    const rows = this.#db.prepare(`SELECT * FROM audit_log${sql} ORDER BY id DESC LIMIT ?`).all(...params, query.limit) as AuditDbRow[];
    return rows.map(toAuditEntry);
  }

  async *export(query: ExportQuery): AsyncGenerator<AuditEntry> {
    const { sql, params } = auditWhere(query, () => '?');
    const statement = this.#db.prepare(`SELECT * FROM audit_log${sql} ORDER BY id ASC${query.limit === undefined ? '' : ' LIMIT ?'}`);
    const args = query.limit === undefined ? params : [...params, query.limit];
    for (const row of statement.iterate(...args) as IterableIterator<AuditDbRow>) yield toAuditEntry(row);
  }

  async expire(cutoffMs: number): Promise<void> {
    this.#db.prepare('DELETE FROM audit_log WHERE at_ms < ?').run(cutoffMs);
  }
}

/** The WHERE clause of a query, with placeholders from `placeholder` (`?` for SQLite, `$n` for PostgreSQL). */
export function auditWhere(query: Omit<AuditQuery, 'limit'>, placeholder: (n: number) => string): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (value: unknown): string => {
    params.push(value);
    return placeholder(params.length);
  };
  if (query.server !== undefined) clauses.push(`server = ${add(query.server)}`);
  if (query.status !== undefined) clauses.push(`status = ${add(query.status)}`);
  if (query.agent !== undefined) clauses.push(`agent = ${add(query.agent)}`);
  if (query.since !== undefined) clauses.push(`at_ms >= ${add(query.since)}`);
  if (query.servers !== undefined) clauses.push(`server IN (${[...query.servers].map((s) => add(s)).join(', ') || "''"})`);
  return { sql: clauses.length === 0 ? '' : ` WHERE ${clauses.join(' AND ')}`, params };
}

/** A stored row as GET /log shows it. */
export function toAuditEntry(row: AuditDbRow): AuditEntry {
  const entry: AuditEntry = {
    time: row.time,
    agent: row.agent,
    server: row.server,
    tool: row.tool,
    status: row.status,
    code: row.code,
    duration_ms: row.duration_ms,
    args_bytes: row.args_bytes,
  };
  if (Number(row.retried) === 1) entry.retried = true;
  if (row.arguments !== null) entry.arguments = JSON.parse(row.arguments) as unknown;
  if (row.trace_id !== null && row.trace_id !== undefined) entry.trace_id = row.trace_id;
  return entry;
}
