import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isStorageError, openFailure } from '../../kit/sqlite-file-watch.js';
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

/** The SQLite dialect of the shared migration list; the index + 1 is the schema version. */
const MIGRATIONS: readonly string[] = GATEWAY_MIGRATIONS.map((m) => m.sqlite);

function migrate(db: GatewayDatabase): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  let version = row?.version ?? 0;
  if (row === undefined) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
  if (version > MIGRATIONS.length) {
    throw new Error(`data_dir database has schema version ${version}, newer than this stonegate knows (${MIGRATIONS.length}); upgrade stonegate or use another data_dir`);
  }
  for (; version < MIGRATIONS.length; version += 1) {
    const sql = MIGRATIONS[version] as string;
    db.transaction(() => {
      db.exec(sql);
      db.prepare('UPDATE schema_version SET version = ?').run(version + 1);
    })();
  }
}
