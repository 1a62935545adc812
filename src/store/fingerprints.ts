import type Database from 'better-sqlite3';
import type { GatewayDatabase } from './database.js';

type Statement = Database.Statement<unknown[]>;

/** What the gateway remembers of one tool definition. */
export interface FingerprintRecord {
  server: string;
  tool: string;
  /** The fingerprint seen last (with a shared store: by any gateway on it). */
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
 * Where tool fingerprints and their changes are kept. Reads and the writes
 * of a listing are synchronous: they run while a listing is applied to the
 * catalog (a shared store answers them from its in-memory copy and writes
 * behind, src/store/pg/fingerprint-store.ts). An approval is awaited.
 */
export interface FingerprintStore {
  get(server: string, tool: string): FingerprintRecord | undefined;
  /**
   * First sight of a tool: its definition becomes the approved one. Returns
   * whether it is approved now; a shared store answers false until the
   * database confirmed that no other gateway recorded the tool first, then
   * tells its `onChange` listener.
   */
  firstSight(record: FingerprintRecord): boolean;
  /** A later sight of another definition than the one seen last. */
  seen(server: string, tool: string, fingerprint: string): void;
  /** An admin approved `fingerprint` (POST /server/approve); settles once stored for every reader of the store. */
  approve(server: string, tool: string, fingerprint: string): Promise<void>;
  list(server: string): FingerprintRecord[];
  addChange(server: string, change: FingerprintChange): void;
  /** The last `limit` changes of a backend, oldest first. */
  changes(server: string, limit: number): FingerprintChange[];
  /** Runs `fn` as one unit of writes (one transaction for a whole listing, not one per tool). */
  batch<T>(fn: () => T): T;
  /** Shared stores: `listener(server)` runs after a backend's records changed under this gateway (another gateway's write, a confirmation). */
  onChange?(listener: (server: string) => void): void;
  /** Shared stores ([pg-speed]): a sentence while its writes or re-reads fail, else undefined (GET /health's `fingerprints` check). */
  problem?(): string | undefined;
}

/** In data_dir/stonegate.db (tables tool_fingerprints and tool_changes), so a restart does not make a changed tool its own first sight. */
export class SqliteFingerprintStore implements FingerprintStore {
  readonly #db: GatewayDatabase;
  readonly #get: Statement;
  readonly #put: Statement;
  readonly #seen: Statement;
  readonly #list: Statement;
  readonly #addChange: Statement;
  readonly #changes: Statement;

  constructor(db: GatewayDatabase) {
    this.#db = db;
    this.#get = db.prepare('SELECT server, tool, fingerprint, first_seen, approved_fingerprint FROM tool_fingerprints WHERE server = ? AND tool = ?');
    this.#put = db.prepare('INSERT OR REPLACE INTO tool_fingerprints (server, tool, fingerprint, first_seen, approved_fingerprint) VALUES (?, ?, ?, ?, ?)');
    this.#seen = db.prepare('UPDATE tool_fingerprints SET fingerprint = ? WHERE server = ? AND tool = ?');
    this.#list = db.prepare('SELECT server, tool, fingerprint, first_seen, approved_fingerprint FROM tool_fingerprints WHERE server = ? ORDER BY tool');
    this.#addChange = db.prepare('INSERT INTO tool_changes (server, tool, from_fingerprint, to_fingerprint, at) VALUES (?, ?, ?, ?, ?)');
    this.#changes = db.prepare(
      'SELECT tool, from_fingerprint AS "from", to_fingerprint AS "to", at FROM tool_changes WHERE server = ? ORDER BY id DESC LIMIT ?',
    );
  }

  get(server: string, tool: string): FingerprintRecord | undefined {
    return this.#get.get(server, tool) as FingerprintRecord | undefined;
  }

  firstSight(record: FingerprintRecord): boolean {
    this.#put.run(record.server, record.tool, record.fingerprint, record.first_seen, record.approved_fingerprint);
    return true;
  }

  seen(server: string, tool: string, fingerprint: string): void {
    this.#seen.run(fingerprint, server, tool);
  }

  async approve(server: string, tool: string, fingerprint: string): Promise<void> {
    const record = this.get(server, tool);
    if (record !== undefined) this.#put.run(server, tool, fingerprint, record.first_seen, fingerprint);
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
