import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isStorageError, openFailure } from '../../kit/sqlite-file-watch.js';
import { counterLedger, migrateSqlite } from '../../kit/sqlite-migrate.js';
import { GatewayError } from '../errors.js';
import { GATEWAY_MIGRATIONS } from './migrations.js';

/** The gateway's own database in data_dir (runtime backends, async calls, tool fingerprints, the audit log). */
export type GatewayDatabase = Database.Database;

/** What start errors and GET /health call the file. */
export const GATEWAY_DB = 'gateway database';

/** data_dir/stonegate.db. */
export function databasePath(dataDir: string): string {
  return join(dataDir, 'stonegate.db');
}

/**
 * Opens (creating) data_dir/stonegate.db in WAL mode and brings its schema
 * up to date. A file that is not a usable database (corrupt, not SQLite,
 * unreadable) is STORE_UNAVAILABLE naming the file and the fix.
 */
export function openDatabase(dataDir: string): GatewayDatabase {
  mkdirSync(dataDir, { recursive: true });
  const path = databasePath(dataDir);
  let db: GatewayDatabase | undefined;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    // NORMAL under WAL: a committed transaction survives a crash of the
    // gateway process (what we promise); only a power loss can cost the last ones.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (error) {
    db?.close();
    throw storeFailure(path, error);
  }
}

/** A storage error (corrupt file, I/O) as STORE_UNAVAILABLE naming `path` and the fix; other errors as they are. */
export function storeFailure(path: string, error: unknown): unknown {
  return isStorageError(error) ? new GatewayError('STORE_UNAVAILABLE', openFailure(path, GATEWAY_DB, error), { cause: error }) : error;
}

/** Brings data_dir's database to the last of GATEWAY_MIGRATIONS (its version in the one-row schema_version). */
function migrate(db: GatewayDatabase): void {
  migrateSqlite(
    db,
    GATEWAY_MIGRATIONS,
    counterLedger('schema_version'),
    (found, latest) => `data_dir database has schema version ${found}, newer than this stonegate knows (${latest}); upgrade stonegate or use another data_dir`,
  );
}
