import type { Database, Statement } from 'better-sqlite3';

/**
 * In-memory copies of rows that every send and poll reads: agents by id,
 * poll cursors, and the newest message id of each inbox. A parked long poll
 * then checks its inbox without a statement, and a send finds its sender and
 * recipient without one (each statement outside a transaction is a read
 * transaction of its own, with the WAL's shared-memory locks).
 *
 * The rules that keep a copy from ever running ahead of the database:
 * - a map is filled only from committed state: a read outside any
 *   transaction, or a value its area wrote and saw committed;
 * - a copy a write changes is updated after that write's COMMIT, or deleted;
 * - another connection's commit (a second process on the same file, which
 *   the store allows) empties every map. `PRAGMA data_version` tells: it is
 *   checked at most once per event-loop turn before reads outside a
 *   transaction, and once inside each group commit right after its BEGIN
 *   IMMEDIATE, when the write lock makes the answer exact until COMMIT.
 *
 * Copies may lag behind (a reader then does a little more work, e.g. a poll
 * checks an inbox that turns out empty); they are never ahead.
 */
export class ReadCache {
  private readonly dataVersion: Statement<[], number>;
  private version: number;
  private readonly maps: Map<unknown, unknown>[] = [];
  /** A check ran in this event-loop turn (reset by setImmediate). */
  private checkedThisTurn = false;
  /** Inside a group commit whose BEGIN was followed by a check. */
  private inCheckedWrite = false;

  constructor(private readonly db: Database) {
    this.dataVersion = db.prepare('PRAGMA data_version').pluck() as Statement<[], number>;
    this.version = this.dataVersion.get() as number;
  }

  /** A map that is emptied when another connection commits. */
  map<K, V>(): Map<K, V> {
    const map = new Map<K, V>();
    this.maps.push(map as Map<unknown, unknown>);
    return map;
  }

  /**
   * Whether the maps may be read now: outside a transaction (after this
   * turn's check), or inside a group commit that checked after its BEGIN.
   * Inside any other transaction the caller reads the database.
   */
  readable(): boolean {
    if (this.inCheckedWrite) return true;
    if (this.db.inTransaction) return false;
    if (!this.checkedThisTurn) {
      this.checkedThisTurn = true;
      setImmediate(() => {
        this.checkedThisTurn = false;
      });
      this.check();
    }
    return true;
  }

  /** Whether a value read from the database now may be kept: only committed state, i.e. outside a transaction. */
  fillable(): boolean {
    return !this.db.inTransaction;
  }

  /** Runs `work` (a write transaction, already begun) with the maps checked and readable. */
  insideWrite<T>(work: () => T): T {
    this.check();
    this.inCheckedWrite = true;
    try {
      return work();
    } finally {
      this.inCheckedWrite = false;
    }
  }

  /** Empties every map (after a write that removed rows copies may hold, e.g. a retention prune); always safe. */
  clear(): void {
    for (const map of this.maps) map.clear();
  }

  /** Empties every map when another connection committed since the last check. */
  private check(): void {
    const version = this.dataVersion.get() as number;
    if (version === this.version) return;
    this.version = version;
    for (const map of this.maps) map.clear();
  }
}

/** Raises a cached position to `value` if it is cached (positions only grow). */
export function raise<K>(map: Map<K, number>, key: K, value: number): void {
  const cached = map.get(key);
  if (cached !== undefined && value > cached) map.set(key, value);
}
