import type Database from 'better-sqlite3';
import type { GatewayDatabase } from '../store/database.js';

type Statement = Database.Statement<unknown[]>;

/** What the gateway remembers of one tool definition. */
export interface FingerprintRecord {
  server: string;
  tool: string;
  /** The fingerprint seen last. */
  fingerprint: string;
  first_seen: string;
  /** The fingerprint agents may use: the first one seen, or the one an admin approved since. */
  approved_fingerprint: string;
}

/** One change of a tool's definition away from its approved version. */
export interface FingerprintChange {
  tool: string;
  from: string;
  to: string;
  at: string;
}

/**
 * Where tool fingerprints and their changes are kept. Synchronous: it is
 * consulted while a listing is applied to the catalog.
 */
export interface FingerprintStore {
  get(server: string, tool: string): FingerprintRecord | undefined;
  put(record: FingerprintRecord): void;
  list(server: string): FingerprintRecord[];
  addChange(server: string, change: FingerprintChange): void;
  /** The last `limit` changes of a backend, oldest first. */
  changes(server: string, limit: number): FingerprintChange[];
  /** Runs `fn` as one unit of writes (one transaction for a whole listing, not one per tool). */
  batch<T>(fn: () => T): T;
}

const key = (server: string, tool: string): string => `${server}\u0000${tool}`;

/** In memory: unit tests, and a catalog before the data_dir database is open. */
export class MemoryFingerprintStore implements FingerprintStore {
  readonly #records = new Map<string, FingerprintRecord>();
  readonly #changes = new Map<string, FingerprintChange[]>();

  get(server: string, tool: string): FingerprintRecord | undefined {
    const found = this.#records.get(key(server, tool));
    return found === undefined ? undefined : { ...found };
  }

  put(record: FingerprintRecord): void {
    this.#records.set(key(record.server, record.tool), { ...record });
  }

  list(server: string): FingerprintRecord[] {
    return [...this.#records.values()].filter((r) => r.server === server).map((r) => ({ ...r }));
  }

  addChange(server: string, change: FingerprintChange): void {
    const list = this.#changes.get(server) ?? [];
    list.push({ ...change });
    this.#changes.set(server, list.slice(-200));
  }

  changes(server: string, limit: number): FingerprintChange[] {
    return (this.#changes.get(server) ?? []).slice(-limit);
  }

  batch<T>(fn: () => T): T {
    return fn();
  }
}

/** In data_dir/stonegate.db (tables tool_fingerprints and tool_changes), so a restart does not make a changed tool its own first sight. */
export class SqliteFingerprintStore implements FingerprintStore {
  readonly #db: GatewayDatabase;
  readonly #get: Statement;
  readonly #put: Statement;
  readonly #list: Statement;
  readonly #addChange: Statement;
  readonly #changes: Statement;

  constructor(db: GatewayDatabase) {
    this.#db = db;
    this.#get = db.prepare('SELECT server, tool, fingerprint, first_seen, approved_fingerprint FROM tool_fingerprints WHERE server = ? AND tool = ?');
    this.#put = db.prepare('INSERT OR REPLACE INTO tool_fingerprints (server, tool, fingerprint, first_seen, approved_fingerprint) VALUES (?, ?, ?, ?, ?)');
    this.#list = db.prepare('SELECT server, tool, fingerprint, first_seen, approved_fingerprint FROM tool_fingerprints WHERE server = ? ORDER BY tool');
    this.#addChange = db.prepare('INSERT INTO tool_changes (server, tool, from_fingerprint, to_fingerprint, at) VALUES (?, ?, ?, ?, ?)');
    this.#changes = db.prepare(
      'SELECT tool, from_fingerprint AS "from", to_fingerprint AS "to", at FROM tool_changes WHERE server = ? ORDER BY id DESC LIMIT ?',
    );
  }

  get(server: string, tool: string): FingerprintRecord | undefined {
    return this.#get.get(server, tool) as FingerprintRecord | undefined;
  }

  put(record: FingerprintRecord): void {
    this.#put.run(record.server, record.tool, record.fingerprint, record.first_seen, record.approved_fingerprint);
  }

  list(server: string): FingerprintRecord[] {
    return this.#list.all(server) as FingerprintRecord[];
  }

  addChange(server: string, change: FingerprintChange): void {
    this.#addChange.run(server, change.tool, change.from, change.to, change.at);
  }

  changes(server: string, limit: number): FingerprintChange[] {
    return (this.#changes.all(server, limit) as FingerprintChange[]).reverse();
  }

  batch<T>(fn: () => T): T {
    return this.#db.inTransaction ? fn() : this.#db.transaction(fn)();
  }
}
