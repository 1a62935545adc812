import type { AuditSettings } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { CallRecord } from '../router/call-log.js';
import type { GatewayDatabase } from '../store/database.js';

/** One row of the audit log, as GET /log shows it. */
export interface AuditEntry extends CallRecord {
  /** Size of the call's arguments as JSON, in bytes (null when unknown). */
  args_bytes: number | null;
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

interface Row {
  time: string;
  agent: string | null;
  server: string;
  tool: string;
  status: CallRecord['status'];
  code: CallRecord['code'];
  duration_ms: number;
  args_bytes: number | null;
  retried: number;
  arguments: string | null;
}

const FLUSH_MS = 50;
const FLUSH_ROWS = 500;
const SWEEP_MS = 3_600_000;

/**
 * Every finished tool call (time, token, server, tool, status, error code,
 * duration, argument size) in data_dir/stonegate.db, kept for
 * retention_days. Rows are written in batches (every 50 ms or 500 rows, in
 * one transaction) off the call's path; a read flushes first.
 */
export class AuditLog {
  readonly #db: GatewayDatabase;
  readonly #settings: Readonly<AuditSettings>;
  readonly #log: Logger;
  #pending: unknown[][] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(db: GatewayDatabase, settings: Readonly<AuditSettings>, logger: Logger) {
    this.#db = db;
    this.#settings = settings;
    this.#log = logger;
    this.expire();
    this.#sweep = setInterval(() => this.expire(), SWEEP_MS);
    this.#sweep.unref();
  }

  /** Queues one call for writing. */
  record(entry: AuditEntry): void {
    if (this.#closed) return;
    const at = Date.parse(entry.time);
    const args = this.#settings.arguments && entry.arguments !== undefined ? JSON.stringify(entry.arguments) : null;
    this.#pending.push([at, entry.time, entry.agent, entry.server, entry.tool, entry.status, entry.code, entry.duration_ms, entry.args_bytes, entry.retried === true ? 1 : 0, args]);
    if (this.#pending.length >= FLUSH_ROWS) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.#timer.unref();
    }
  }

  /** Writes what is queued. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const rows = this.#pending;
    this.#pending = [];
    try {
      const insert = this.#db.prepare(
        'INSERT INTO audit_log (at_ms, time, agent, server, tool, status, code, duration_ms, args_bytes, retried, arguments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      this.#db.transaction(() => {
        for (const row of rows) insert.run(...row);
      })();
    } catch (err) {
      this.#log.error({ err, rows: rows.length }, 'could not write the audit log');
    }
  }

  /** Deletes rows older than retention_days (0: keep everything). */
  expire(): void {
    if (this.#settings.retention_days <= 0) return;
    const cutoff = Date.now() - this.#settings.retention_days * 86_400_000;
    try {
      this.#db.prepare('DELETE FROM audit_log WHERE at_ms < ?').run(cutoff);
    } catch (err) {
      this.#log.error({ err }, 'could not expire the audit log');
    }
  }

  /** Newest first, filtered. */
  recent(query: AuditQuery): AuditEntry[] {
    this.flush();
    const { sql, params } = where(query);
    const rows = this.#db.prepare(`SELECT * FROM audit_log${sql} ORDER BY id DESC LIMIT ?`).all(...params, query.limit) as Row[];
    return rows.map(toEntry);
  }

  /** Oldest first, filtered, one row at a time (GET /log?format=jsonl). */
  *export(query: Omit<AuditQuery, 'limit'> & { limit?: number }): Generator<AuditEntry> {
    this.flush();
    const { sql, params } = where(query);
    const statement = this.#db.prepare(`SELECT * FROM audit_log${sql} ORDER BY id ASC${query.limit === undefined ? '' : ' LIMIT ?'}`);
    const args = query.limit === undefined ? params : [...params, query.limit];
    for (const row of statement.iterate(...args) as IterableIterator<Row>) yield toEntry(row);
  }

  /** Writes what is queued and stops the timers (before the database closes). */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    clearInterval(this.#sweep);
  }
}

function where(query: Omit<AuditQuery, 'limit'>): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (query.server !== undefined) {
    clauses.push('server = ?');
    params.push(query.server);
  }
  if (query.status !== undefined) {
    clauses.push('status = ?');
    params.push(query.status);
  }
  if (query.agent !== undefined) {
    clauses.push('agent = ?');
    params.push(query.agent);
  }
  if (query.since !== undefined) {
    clauses.push('at_ms >= ?');
    params.push(query.since);
  }
  if (query.servers !== undefined) {
    clauses.push(`server IN (${[...query.servers].map(() => '?').join(', ') || "''"})`);
    params.push(...query.servers);
  }
  return { sql: clauses.length === 0 ? '' : ` WHERE ${clauses.join(' AND ')}`, params };
}

function toEntry(row: Row): AuditEntry {
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
  if (row.retried === 1) entry.retried = true;
  if (row.arguments !== null) entry.arguments = JSON.parse(row.arguments) as unknown;
  return entry;
}
