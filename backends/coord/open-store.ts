import { unreachable } from '../../kit/pg-unreachable.js';
import type { CoordOptionsInput } from './options.js';
import { isPostgresUrl } from './postgres-url.js';
import { openSqliteStore } from './sqlite-store.js';
import type { CoordStore, StoreRuntime } from './store.js';

export { isPostgresUrl };

/** Where the coordination data lives: a SQLite path or a PostgreSQL URL, and where that came from (for errors). */
export interface StoreLocation {
  /** A SQLite file (`:memory:` for a throwaway) or a postgres:// URL. */
  db: string;
  /** PostgreSQL connections in the pool (the driver's default when absent). */
  poolSize?: number;
  /** The setting that named `db`, as errors quote it: `--db`, `[store] url`. */
  setting: string;
  /** LISTEN on the process's one listening connection to the database, shared with the gateway's stores ([pg-speed]: kit/pg-listen-hub.ts). */
  sharedListen?: boolean;
}

/**
 * Opens the coordination store `db` names: PostgreSQL for a postgres:// URL
 * (its tables migrated once under an advisory lock, however many servers
 * and gateways start on it together), else a SQLite file. A failure is one
 * sentence naming the database, its password hidden.
 */
export async function openStoreAt(location: StoreLocation, options: CoordOptionsInput, runtime: StoreRuntime = {}): Promise<CoordStore> {
  const { db, poolSize, setting, sharedListen } = location;
  if (isPostgresUrl(db)) {
    // The PostgreSQL driver loads only for a PostgreSQL URL (SQLite users never pay for it).
    const { openPgStore } = await import('./pg-store.js');
    return openPgStore(
      { url: db, ...(poolSize === undefined ? {} : { max: poolSize }), ...(sharedListen === true ? { sharedListen } : {}) },
      options,
      runtime,
    ).catch(unreachable(setting, db));
  }
  try {
    return openSqliteStore(db, options, runtime);
  } catch (error) {
    throw new Error(`${setting}: could not open the SQLite database ${db}: ${(error as Error).message}`);
  }
}
