import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';

/*
 * Whether a SQLite file the process has open is still the one on disk and
 * still readable. Shared by the gateway's data_dir database and the
 * coordination store: a file deleted or replaced while the process runs
 * keeps taking writes into an inode no one will open again, and a corrupt
 * page only shows when a query reaches it; both must be reported (GET
 * /health), not found out at the next start.
 */

/** SQLite result codes that mean the file, not the query, is at fault. */
const STORAGE_CODES = /^SQLITE_(CORRUPT|NOTADB|IOERR|CANTOPEN|FULL|READONLY)/;

/** Whether `error` is a driver error about the database file (corrupt, unreadable, full, read-only). */
export function isStorageError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && STORAGE_CODES.test(code);
}

/** The sentence a start error ends with: what to do about an unusable database file. */
export function storeFix(path: string): string {
  return `stop the gateway, move ${path} (with its -wal and -shm files) aside or restore them from a backup, and start again (a missing file is created empty)`;
}

/** A start error naming the file and the fix, for an open or a first query that failed. */
export function openFailure(path: string, what: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return `Cannot open the ${what} at ${path}: ${reason}${typeof code === 'string' ? ` (${code})` : ''}. To start, ${storeFix(path)}.`;
}

/** The state of one watched file: undefined `problem` when it is usable. */
export interface FileCheck {
  path: string;
  problem?: string;
}

/** One open SQLite file, its identity on disk taken when it was opened. */
export class SqliteFileWatch {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #what: string;
  readonly #identity: { dev: number; ino: number } | undefined;
  #failure: string | undefined;
  #probe: Database.Statement | undefined;

  constructor(path: string, db: Database.Database, what: string) {
    this.path = path;
    this.#db = db;
    this.#what = what;
    this.#identity = identityOf(path);
  }

  /** Records a storage error a query met (later checks report it); true when it was one. */
  note(error: unknown): boolean {
    if (!isStorageError(error)) return false;
    this.#failure ??= `the ${this.#what} at ${this.path} failed a query: ${error.message} (${error.code}); ${storeFix(this.path)}`;
    return true;
  }

  /**
   * Compares the file at the path with the one opened (deleted? replaced?)
   * and runs a one-page read; cheap enough for every GET /health.
   */
  check(): FileCheck {
    if (this.#identity !== undefined) {
      const now = identityOf(this.path);
      if (now === undefined) {
        return { path: this.path, problem: `the ${this.#what} ${this.path} was deleted while the gateway runs: writes go to a file that is gone and will be lost. Restore the file from a backup (or accept the loss) and restart the gateway` };
      }
      if (now.dev !== this.#identity.dev || now.ino !== this.#identity.ino) {
        return { path: this.path, problem: `the ${this.#what} ${this.path} was replaced while the gateway runs: it still writes to the file it opened, which is gone. Restart the gateway to use the file now at that path` };
      }
    }
    try {
      this.#probe ??= this.#db.prepare('SELECT count(*) FROM sqlite_master');
      this.#probe.get();
    } catch (error) {
      this.note(error);
    }
    return this.#failure === undefined ? { path: this.path } : { path: this.path, problem: this.#failure };
  }
}

function identityOf(path: string): { dev: number; ino: number } | undefined {
  try {
    const s = statSync(path);
    return { dev: s.dev, ino: s.ino };
  } catch {
    return undefined;
  }
}
