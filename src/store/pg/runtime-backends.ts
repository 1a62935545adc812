import type pg from 'pg';
import type { RuntimeBackendStore, StoredBackend } from '../runtime-backends.js';

/** Runtime backend changes in the shared PostgreSQL, so every gateway on it loads the same list. */
export class PgRuntimeBackendStore implements RuntimeBackendStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async list(): Promise<StoredBackend[]> {
    const { rows } = await this.#pool.query<{ name: string; entry: string; added_at: string }>('SELECT name, entry, added_at FROM runtime_backends ORDER BY added_at, name');
    return rows.map((r) => ({ name: r.name, entry: JSON.parse(r.entry) as Record<string, unknown>, added_at: r.added_at }));
  }

  async removed(): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ name: string }>('SELECT name FROM removed_backends');
    return new Set(rows.map((r) => r.name));
  }

  async add(name: string, entry: Record<string, unknown>): Promise<void> {
    await this.#pool.query(
      `INSERT INTO runtime_backends (name, entry, added_at) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET entry = EXCLUDED.entry, added_at = EXCLUDED.added_at`,
      [name, JSON.stringify(entry), new Date().toISOString()],
    );
  }

  async remove(name: string, origin: 'file' | 'runtime'): Promise<void> {
    // Both in one statement, so another gateway never sees one without the other.
    await this.#pool.query(
      `WITH gone AS (DELETE FROM runtime_backends WHERE name = $1)
       INSERT INTO removed_backends (name, removed_at) SELECT $1, $2 WHERE $3
       ON CONFLICT (name) DO UPDATE SET removed_at = EXCLUDED.removed_at`,
      [name, new Date().toISOString(), origin === 'file'],
    );
  }
}
