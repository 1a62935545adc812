import type pg from 'pg';
import {
  AUDIT_COLUMNS,
  type AuditDbRow,
  type AuditEntry,
  type AuditQuery,
  type AuditRow,
  type AuditStore,
  auditWhere,
  type ExportQuery,
  toAuditEntry,
} from '../audit.js';

/** Rows per INSERT statement (12 parameters each, well under PostgreSQL's 65,535). */
const INSERT_ROWS = 1_000;
/** Rows per page of an export. */
const EXPORT_PAGE = 1_000;

const placeholder = (n: number): string => `$${n}`;

/** The audit log in the PostgreSQL that several gateways share: GET /log on any of them shows the calls of all. */
export class PgAuditStore implements AuditStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async insert(rows: readonly AuditRow[]): Promise<void> {
    for (let start = 0; start < rows.length; start += INSERT_ROWS) {
      const chunk = rows.slice(start, start + INSERT_ROWS);
      const values = chunk.map((_, i) => `(${Array.from({ length: 12 }, (__, j) => `$${i * 12 + j + 1}`).join(', ')})`);
      await this.#pool.query(`INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES ${values.join(', ')}`, chunk.flat());
    }
  }

  async recent(query: AuditQuery): Promise<AuditEntry[]> {
    const { sql, params } = auditWhere(query, placeholder);
    const result = await this.#pool.query<AuditDbRow>(`SELECT * FROM audit_log${sql} ORDER BY id DESC LIMIT $${params.length + 1}`, [...params, query.limit]);
    return result.rows.map(toAuditEntry);
  }

  /** Keyset pages by id, so an export of any size holds one page at a time. */
  async *export(query: ExportQuery): AsyncGenerator<AuditEntry> {
    const { sql, params } = auditWhere(query, placeholder);
    let after = '0';
    let left = query.limit ?? Number.POSITIVE_INFINITY;
    while (left > 0) {
      const page = Math.min(EXPORT_PAGE, left);
      const where = `${sql === '' ? ' WHERE' : `${sql} AND`} id > $${params.length + 1}`;
      const result = await this.#pool.query<AuditDbRow & { id: string }>(`SELECT * FROM audit_log${where} ORDER BY id ASC LIMIT $${params.length + 2}`, [
        ...params,
        after,
        page,
      ]);
      for (const row of result.rows) yield toAuditEntry(row);
      if (result.rows.length < page) return;
      after = (result.rows.at(-1) as { id: string }).id;
      left -= result.rows.length;
    }
  }

  async expire(cutoffMs: number): Promise<void> {
    await this.#pool.query('DELETE FROM audit_log WHERE at_ms < $1', [cutoffMs]);
  }
}
