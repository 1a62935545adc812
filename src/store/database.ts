import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_MIGRATIONS } from './migrations.js';

/** The gateway's own database in data_dir (runtime backends, async calls, tool fingerprints, the audit log). */
export type GatewayDatabase = Database.Database;

/** Opens (creating) data_dir/stonegate.db in WAL mode and brings its schema up to date. */
export function openDatabase(dataDir: string): GatewayDatabase {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, 'stonegate.db'));
  db.pragma('journal_mode = WAL');
  // NORMAL under WAL: a committed transaction survives a crash of the
  // gateway process (what we promise); only a power loss can cost the last ones.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
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
