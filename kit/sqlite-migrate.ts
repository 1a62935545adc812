import type { Database } from 'better-sqlite3';

/*
 * The SQLite half of the kit's migrations (pg-migrate.ts is the PostgreSQL
 * half; apart so that SQLite users never load the PostgreSQL driver). One
 * runner for the gateway's data_dir database and coord's file; each keeps
 * its version where it always has (a ledger), so databases written by
 * earlier versions open unchanged.
 */

/** One schema step in SQLite's dialect; `version` is its position, starting at 1. */
export interface SqliteStep {
  version: number;
  name: string;
  sqlite: string;
}

/** Where a database records the schema version it is at. */
export interface SqliteLedger {
  /** Creates the ledger if it is missing. */
  open(db: Database): void;
  version(db: Database): number;
  record(db: Database, step: SqliteStep): void;
}

/** One row per applied step (version, name, applied_at): coord's schema_version. */
export function stepLedger(table: string): SqliteLedger {
  return {
    open: (db) => db.exec(`CREATE TABLE IF NOT EXISTS ${table} (\n    version    INTEGER PRIMARY KEY,\n    name       TEXT NOT NULL,\n    applied_at INTEGER NOT NULL\n  )`),
    version: (db) => (db.prepare(`SELECT COALESCE(MAX(version), 0) AS v FROM ${table}`).get() as { v: number }).v,
    record: (db, step) => void db.prepare(`INSERT INTO ${table} (version, name, applied_at) VALUES (?, ?, ?)`).run(step.version, step.name, Date.now()),
  };
}

/** One row holding the version: the gateway's data_dir schema_version. */
export function counterLedger(table: string): SqliteLedger {
  return {
    open: (db) => {
      db.exec(`CREATE TABLE IF NOT EXISTS ${table} (version INTEGER NOT NULL)`);
      if (db.prepare(`SELECT version FROM ${table}`).get() === undefined) db.prepare(`INSERT INTO ${table} (version) VALUES (0)`).run();
    },
    version: (db) => (db.prepare(`SELECT version FROM ${table}`).get() as { version: number } | undefined)?.version ?? 0,
    record: (db, step) => void db.prepare(`UPDATE ${table} SET version = ?`).run(step.version),
  };
}

/**
 * Brings the database to the last of `steps`, one step per IMMEDIATE
 * transaction, and returns the version it is at. Refuses a database written
 * by a newer version (`tooNew` says so) rather than guessing; re-reads the
 * version inside the write lock, since another process may have migrated
 * meanwhile.
 */
export function migrateSqlite(db: Database, steps: readonly SqliteStep[], ledger: SqliteLedger, tooNew: (found: number, latest: number) => string): number {
  ledger.open(db);
  const latest = steps.length;
  const found = ledger.version(db);
  if (found > latest) throw new Error(tooNew(found, latest));
  for (const step of steps) {
    if (step.version <= found) continue;
    db.transaction(() => {
      if (ledger.version(db) >= step.version) return;
      db.exec(step.sqlite);
      ledger.record(db, step);
    }).immediate();
  }
  return ledger.version(db);
}
