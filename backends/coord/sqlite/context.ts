import type { Database, Statement } from 'better-sqlite3';
import type { Notifier } from '../../../kit/notifier.js';
import type { Doorbell } from '../doorbell.js';
import type { CoordOptions } from '../options.js';
import type { CoordLogger } from '../store.js';
import type { CoordEventType } from '../types.js';
import type { GroupCommit } from './group-commit.js';
import type { ReadCache } from './read-cache.js';

/** Appends an event inside the caller's transaction; returns its id. */
export type AppendEvent = (type: CoordEventType, channel: string | null, data: Record<string, unknown>, at: number) => number;

/** Records a channel inside the caller's transaction if it is new (and emits channel_created). */
export type EnsureChannel = (name: string, createdBy: string | null, at: number) => void;

/** What every area of the SQLite store shares. */
export interface SqliteContext {
  db: Database;
  options: CoordOptions;
  now: () => number;
  notifier: Notifier;
  /** In-memory copies of agents, cursors and inbox heads (see ReadCache for when they may be read). */
  cache: ReadCache;
  /** Shares one commit among the writes of one event-loop turn (sends, broadcasts, poll cursor moves). */
  group: GroupCommit;
  doorbell: Doorbell;
  logger: CoordLogger | undefined;
  appendEvent: AppendEvent;
  ensureChannel: EnsureChannel;
  /** A prepared statement for SQL built per call (filters), compiled once per distinct text. */
  prepare(sql: string): Statement;
  /** True once close() began; long-polls stop waiting and answer UNAVAILABLE. */
  isClosed: () => boolean;
}

export { parseJson } from '../rows.js';
