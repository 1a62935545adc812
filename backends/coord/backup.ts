import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { CoordError } from './errors.js';
import { SCHEMA_VERSION } from './migrations.js';
import { isPostgresUrl } from './postgres-url.js';

/*
 * `stonegate coord backup` / `restore` of the SQLite store. A backup is
 * SQLite's online backup (better-sqlite3 `db.backup()`) copied in one step:
 * one read transaction, so the copy is the store as of one commit while the
 * server goes on writing (WAL: the reader does not block the writer). A
 * restore refuses while any process has the store open — SQLite's own file
 * lock tells: an exclusive lock cannot be had while another connection
 * holds the file, and the lock of a killed process is gone with it (no pid
 * file to go stale). That works on local file systems, not across NFS.
 */

/** The tables every coordination store has since schema version 1. */
const COORD_TABLES = ['schema_version', 'channels', 'agents', 'messages', 'inbox', 'cursors', 'tasks', 'state', 'events'];

/** What a backup or restore did. */
export interface CopyReport {
  /** The file written. */
  file: string;
  /** The store's schema version in that file. */
  schema_version: number;
  /** Its size in pages of the database. */
  pages: number;
}

/** Refuses a PostgreSQL store: its backups are PostgreSQL's own tools. */
function refusePostgres(db: string, verb: 'backup' | 'restore'): void {
  if (!isPostgresUrl(db)) return;
  const how =
    verb === 'backup'
      ? "pg_dump --format=custom --file=coord.dump '<url>' (the coordination tables live in that database)"
      : "pg_restore --clean --dbname='<url>' coord.dump, with every gateway and stonegate coord on it stopped";
  throw new CoordError('BAD_REQUEST', `stonegate coord ${verb} copies a SQLite store; this one is PostgreSQL: use ${how}.`);
}

/**
 * Opens `file` read-only and checks it is a coordination store this
 * stonegate can open; returns its schema version. `thorough` also reads
 * every page (quick_check): for a backup, not for a live store.
 */
function inspect(file: string, what: string, thorough = true): number {
  if (!existsSync(file)) throw new CoordError('BAD_REQUEST', `${what} ${file} does not exist.`);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const names = new Set(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[]);
    const missing = COORD_TABLES.filter((t) => !names.has(t));
    if (missing.length > 0) throw new CoordError('BAD_REQUEST', `${what} ${file} is not a coordination store: it lacks the table(s) ${missing.join(', ')}.`);
    const version = db.prepare('SELECT COALESCE(MAX(version), 0) FROM schema_version').pluck().get() as number;
    if (version > SCHEMA_VERSION) {
      throw new CoordError(
        'BAD_REQUEST',
        `${what} ${file} is at schema version ${version}, newer than this stonegate understands (${SCHEMA_VERSION}); upgrade stonegate.`,
      );
    }
    const check = thorough ? db.pragma('quick_check', { simple: true }) : 'ok';
    if (check !== 'ok') throw new CoordError('BAD_REQUEST', `${what} ${file} is damaged (quick_check: ${String(check)}); use another backup.`);
    return version;
  } catch (error) {
    if (error instanceof CoordError) throw error;
    throw new CoordError('BAD_REQUEST', `${what} ${file} is not a coordination store: ${(error as Error).message}.`);
  } finally {
    db?.close();
  }
}

/** Copies `from` (a live store or a backup) to `to` through a temporary file beside it, in one backup step; returns the pages copied. */
async function copy(from: string, to: string): Promise<number> {
  mkdirSync(dirname(to), { recursive: true });
  const partial = join(dirname(to), `.${basename(to)}.${process.pid}.partial`);
  const source = new Database(from, { fileMustExist: true, timeout: 5000 });
  try {
    // One step for every page: one read transaction, one commit's view of the store.
    const { totalPages } = await source.backup(partial, { progress: () => Number.MAX_SAFE_INTEGER });
    renameSync(partial, to);
    return totalPages;
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    source.close();
  }
}

/** `stonegate coord backup`: a consistent copy of the SQLite store `db` to `file` (a new file), while servers keep writing. */
export async function backupStore(db: string, file: string): Promise<CopyReport> {
  refusePostgres(db, 'backup');
  if (existsSync(file)) throw new CoordError('BAD_REQUEST', `Backup file ${file} already exists; name a new file (a backup never overwrites one).`);
  inspect(db, 'The coordination store', false);
  const pages = await copy(db, file);
  return { file, schema_version: inspect(file, 'The backup'), pages };
}

/** Whether a process has `db` open: an exclusive lock on it cannot be had then (busy at once, no wait). */
function heldByAnother(db: string): boolean {
  if (!existsSync(db)) return false;
  const probe = new Database(db, { fileMustExist: true, timeout: 0 });
  try {
    probe.pragma('locking_mode = EXCLUSIVE');
    probe.exec('BEGIN EXCLUSIVE');
    probe.exec('ROLLBACK');
    return false;
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY') return true;
    // A store too damaged to read (what a restore is often for) cannot be served either.
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return false;
    throw error;
  } finally {
    probe.close();
  }
}

/**
 * `stonegate coord restore`: replaces the SQLite store `db` with the backup
 * `file`. Refuses a file that is not a coordination store, and a store that
 * a running server (a gateway, stonegate coord) has open.
 */
export async function restoreStore(file: string, db: string): Promise<CopyReport> {
  refusePostgres(db, 'restore');
  const version = inspect(file, 'The backup');
  if (heldByAnother(db)) {
    throw new CoordError(
      'CONFLICT',
      `The coordination store ${db} is open in a running server (a gateway or stonegate coord); stop it, then restore. Nothing was changed.`,
    );
  }
  const staged = join(dirname(db), `.${basename(db)}.${process.pid}.restore`);
  const pages = await copy(file, staged).catch((error: unknown) => {
    rmSync(staged, { force: true });
    throw error;
  });
  // The old store's WAL and shared memory must not be applied to the restored file.
  for (const suffix of ['-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
  renameSync(staged, db);
  return { file: db, schema_version: version, pages };
}
