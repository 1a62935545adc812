import type pg from 'pg';
import { migratePostgres } from '../../../kit/pg-migrate.js';
import { openPgPool, type PgSettings } from '../../../kit/pg-pool.js';
import { GATEWAY_MIGRATIONS } from '../migrations.js';

/** The gateway's tables in a shared PostgreSQL: the pool and the schema version it is at. */
export interface PgGatewayDatabase {
  readonly pool: pg.Pool;
  readonly schemaVersion: number;
  /** Ends the pool. Idempotent. */
  close(): Promise<void>;
}

/** Opens a pool to [store] url and brings the gateway tables up to date (once, however many gateways start together). */
export async function openPgDatabase(settings: PgSettings): Promise<PgGatewayDatabase> {
  const pool = await openPgPool(settings);
  let schemaVersion: number;
  try {
    schemaVersion = await migratePostgres(pool, 'stonegate_schema_version', GATEWAY_MIGRATIONS, 'gateway');
  } catch (error) {
    await pool.end();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    pool,
    schemaVersion,
    close: () => (closing ??= pool.end()),
  };
}
