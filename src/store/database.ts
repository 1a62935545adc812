import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** The gateway's own database in data_dir (runtime backends, async calls, tool fingerprints, the audit log). */
export type GatewayDatabase = Database.Database;

/**
 * Ordered migrations; the index + 1 is the schema version. Append only:
 * a released migration is never edited, a change is a new entry.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runtime_backends (
     name TEXT PRIMARY KEY,
     entry TEXT NOT NULL,          -- the backend entry as given to POST /server/add (JSON)
     added_at TEXT NOT NULL
   );
   CREATE TABLE removed_backends (
     name TEXT PRIMARY KEY,        -- a backend of the TOML file removed at runtime stays removed
     removed_at TEXT NOT NULL
   );`,
  `CREATE TABLE async_calls (
     id TEXT PRIMARY KEY,
     state TEXT NOT NULL,          -- pending, running, complete, failed, cancelled
     server TEXT NOT NULL,
     tool TEXT NOT NULL,
     caller TEXT,
     owner TEXT,                   -- the identity that may read it (token name, or MCP session for tasks)
     submitted_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT,
     expires_at INTEGER,           -- ms since epoch; set when the call finishes
     result TEXT,                  -- the tool result (JSON)
     error_code TEXT,
     error_message TEXT,
     progress TEXT                 -- the last progress notification (JSON)
   );
   CREATE INDEX async_calls_expiry ON async_calls (expires_at);
   CREATE INDEX async_calls_owner ON async_calls (owner, submitted_at);`,
  `CREATE TABLE tool_fingerprints (
     server TEXT NOT NULL,
     tool TEXT NOT NULL,
     fingerprint TEXT NOT NULL,           -- description+schema fingerprint seen last
     first_seen TEXT NOT NULL,
     approved_fingerprint TEXT NOT NULL,  -- first sight, or what POST /server/approve approved
     PRIMARY KEY (server, tool)
   );
   CREATE TABLE tool_changes (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     server TEXT NOT NULL,
     tool TEXT NOT NULL,
     from_fingerprint TEXT NOT NULL,
     to_fingerprint TEXT NOT NULL,
     at TEXT NOT NULL
   );
   CREATE INDEX tool_changes_server ON tool_changes (server, id);
   CREATE TABLE audit_log (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at_ms INTEGER NOT NULL,              -- ms since epoch, for since= and retention
     time TEXT NOT NULL,
     agent TEXT,                          -- token name (or MCP client name without auth)
     server TEXT NOT NULL,
     tool TEXT NOT NULL,
     status TEXT NOT NULL,                -- success, error, timeout
     code TEXT,
     duration_ms REAL NOT NULL,
     args_bytes INTEGER,
     retried INTEGER NOT NULL DEFAULT 0,
     arguments TEXT                       -- only with [audit] arguments = true
   );
   CREATE INDEX audit_log_time ON audit_log (at_ms);`,
];

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
