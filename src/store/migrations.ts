import type { PgMigration } from '../../kit/pg-migrate.js';

/** One schema step of the gateway database, in both dialects side by side. */
export interface GatewayMigration extends PgMigration {
  /** SQLite's dialect (data_dir/stonegate.db). */
  sqlite: string;
}

/**
 * The gateway's schema for both engines, in order; `version` is the
 * position. Append only: a released step is never edited, a change is a new
 * step written for both. Comments on the columns are in the SQLite dialect;
 * PostgreSQL has the same tables with BIGINT ms times and BIGSERIAL ids, and
 * async_calls there also records which gateway runs a call (`instance`) and
 * until when it vouches for it (`lease_until`, ms), because there several
 * gateways share the table (src/store/pg/dispatch-store.ts).
 */
export const GATEWAY_MIGRATIONS: readonly GatewayMigration[] = [
  {
    version: 1,
    name: 'runtime backends',
    sqlite: `CREATE TABLE runtime_backends (
     name TEXT PRIMARY KEY,
     entry TEXT NOT NULL,          -- the backend entry as given to POST /server/add (JSON)
     added_at TEXT NOT NULL
   );
   CREATE TABLE removed_backends (
     name TEXT PRIMARY KEY,        -- a backend of the TOML file removed at runtime stays removed
     removed_at TEXT NOT NULL
   );`,
    postgres: `CREATE TABLE runtime_backends (
       name TEXT PRIMARY KEY,
       entry TEXT NOT NULL,
       added_at TEXT NOT NULL
     );
     CREATE TABLE removed_backends (
       name TEXT PRIMARY KEY,
       removed_at TEXT NOT NULL
     );`,
  },
  {
    version: 2,
    name: 'async calls',
    sqlite: `CREATE TABLE async_calls (
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
    postgres: `CREATE TABLE async_calls (
       id TEXT PRIMARY KEY,
       state TEXT NOT NULL,
       server TEXT NOT NULL,
       tool TEXT NOT NULL,
       caller TEXT,
       owner TEXT,
       submitted_at TEXT NOT NULL,
       started_at TEXT,
       finished_at TEXT,
       expires_at BIGINT,
       result TEXT,
       error_code TEXT,
       error_message TEXT,
       progress TEXT,
       instance TEXT,
       lease_until BIGINT
     );
     CREATE INDEX async_calls_expiry ON async_calls (expires_at);
     CREATE INDEX async_calls_owner ON async_calls (owner, submitted_at);
     CREATE INDEX async_calls_leases ON async_calls (lease_until) WHERE state IN ('pending', 'running');`,
  },
  {
    version: 3,
    name: 'tool fingerprints and the audit log',
    sqlite: `CREATE TABLE tool_fingerprints (
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
    postgres: `CREATE TABLE tool_fingerprints (
       server TEXT NOT NULL,
       tool TEXT NOT NULL,
       fingerprint TEXT NOT NULL,
       first_seen TEXT NOT NULL,
       approved_fingerprint TEXT NOT NULL,
       PRIMARY KEY (server, tool)
     );
     CREATE TABLE tool_changes (
       id BIGSERIAL PRIMARY KEY,
       server TEXT NOT NULL,
       tool TEXT NOT NULL,
       from_fingerprint TEXT NOT NULL,
       to_fingerprint TEXT NOT NULL,
       at TEXT NOT NULL
     );
     CREATE INDEX tool_changes_server ON tool_changes (server, id);
     CREATE TABLE audit_log (
       id BIGSERIAL PRIMARY KEY,
       at_ms BIGINT NOT NULL,
       time TEXT NOT NULL,
       agent TEXT,
       server TEXT NOT NULL,
       tool TEXT NOT NULL,
       status TEXT NOT NULL,
       code TEXT,
       duration_ms DOUBLE PRECISION NOT NULL,
       args_bytes INTEGER,
       retried INTEGER NOT NULL DEFAULT 0,
       arguments TEXT
     );
     CREATE INDEX audit_log_time ON audit_log (at_ms);`,
  },
  {
    version: 4,
    name: 'backends stopped or started at runtime',
    sqlite: `CREATE TABLE backend_enabled (
     name TEXT PRIMARY KEY,
     enabled INTEGER NOT NULL,     -- 0 after POST /server/stop, 1 after /server/start or /server/restart; wins over the entry's enabled
     changed_at TEXT NOT NULL
   );`,
    postgres: `CREATE TABLE backend_enabled (
       name TEXT PRIMARY KEY,
       enabled BOOLEAN NOT NULL,
       changed_at TEXT NOT NULL
     );`,
  },
  {
    version: 5,
    name: 'the trace id of an audited call',
    sqlite: `ALTER TABLE audit_log ADD COLUMN trace_id TEXT;  -- [otel] 32 hex digits; NULL for a call without a trace`,
    postgres: `ALTER TABLE audit_log ADD COLUMN trace_id TEXT;`,
  },
];
