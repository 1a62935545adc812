import type pg from 'pg';
import { transaction } from './pg-pool.js';

/** One schema step in PostgreSQL's dialect; `version` is its position, starting at 1. */
export interface PgMigration {
  version: number;
  name: string;
  postgres: string;
}

/**
 * Brings a PostgreSQL schema to the last step of `migrations`, recording each
 * in `table`, all in one transaction. Several processes starting at once
 * (gateways behind one load balancer) serialize on an advisory lock, so each
 * step runs exactly once. Refuses a database written by a newer version.
 */
export async function migratePostgres(pool: pg.Pool, table: string, migrations: readonly PgMigration[], what: string): Promise<number> {
  const latest = migrations.length;
  return transaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext(current_schema() || $1))', [table]);
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const found = (await client.query<{ v: number }>(`SELECT COALESCE(MAX(version), 0) AS v FROM ${table}`)).rows[0]?.v ?? 0;
    if (found > latest) {
      throw new Error(`The ${what} database is at schema version ${found}, newer than this stonegate understands (${latest}); upgrade stonegate or point [store] url at another database.`);
    }
    for (const step of migrations) {
      if (step.version <= found) continue;
      await client.query(step.postgres);
      await client.query(`INSERT INTO ${table} (version, name, applied_at) VALUES ($1, $2, $3)`, [step.version, step.name, Date.now()]);
    }
    return Math.max(found, latest);
  });
}
