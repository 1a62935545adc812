import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type Statement } from 'better-sqlite3';
import { Notifier } from '../../kit/notifier.js';
import { isStorageError, openFailure, SqliteFileWatch } from '../../kit/sqlite-file-watch.js';
import { Doorbell } from './doorbell.js';
import { CoordError } from './errors.js';
import { migrate } from './migrations.js';
import { type CoordOptionsInput, coordOptions } from './options.js';
import { RetentionSweep } from './retention.js';
import { storeClosed } from './rules.js';
import { SqliteAgents } from './sqlite/agents.js';
import { SqliteChannels } from './sqlite/channels.js';
import { Checkpointer, FALLBACK_AUTOCHECKPOINT_PAGES } from './sqlite/checkpointer.js';
import type { SqliteContext } from './sqlite/context.js';
import { SqliteEvents } from './sqlite/events.js';
import { GroupCommit } from './sqlite/group-commit.js';
import { SqliteMessages } from './sqlite/messages.js';
import { ReadCache } from './sqlite/read-cache.js';
import { SqliteRetention } from './sqlite/retention.js';
import { SqliteState } from './sqlite/state.js';
import { SqliteTasks } from './sqlite/tasks.js';
import { SqliteThreads } from './sqlite/threads.js';
import { SqliteUnread } from './sqlite/unread.js';
import { SqliteWorkClaims } from './sqlite/work-claims.js';
import type { CoordStore, StoreRuntime } from './store.js';
import { areaMethods } from './store-methods.js';

/**
 * Opens (creating and migrating as needed) the SQLite coordination store at
 * `path` (":memory:" for a throwaway one). One process should own a file; a
 * second one works (WAL, busy_timeout) but does not see the first one's
 * long-poll wake-ups.
 */
export function openSqliteStore(path: string, options: CoordOptionsInput = {}, runtime: StoreRuntime = {}): CoordStore {
  const opts = coordOptions(options);
  const memory = path === ':memory:' || path === '';
  if (!memory) mkdirSync(dirname(path), { recursive: true });
  const db = openFile(path);
  const watch = memory ? undefined : new SqliteFileWatch(path, db, 'coordination database');
  // Durability: "every write that the API acknowledges is committed before
  // the answer" must survive a SIGKILL of this process. better-sqlite3 commits
  // synchronously, so a transaction is in the WAL file (the OS page cache)
  // before any answer is sent, and a process crash cannot lose it. NORMAL only
  // skips the fsync per commit, which matters for power loss or an OS crash
  // (the last transactions may be lost, the database stays consistent).
  // Operators who need that too can switch this to FULL at ~2x write cost.
  let schemaVersion: number;
  try {
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // WAL checkpoints run in a worker thread (see Checkpointer); this connection's own is the fallback.
    if (!memory) db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    db.pragma('foreign_keys = ON');
    schemaVersion = migrate(db);
  } catch (error) {
    db.close();
    throw isStorageError(error) ? new CoordError('UNAVAILABLE', openFailure(path, 'coordination database', error)) : error;
  }

  const openedAt = Date.now();
  const now = runtime.now ?? Date.now;
  const notifier = new Notifier();
  const checkpointer = memory ? undefined : new Checkpointer(path, runtime.logger);
  const doorbell = new Doorbell(opts, runtime.logger);
  // Filtered reads build their SQL from the filters given; there are few distinct texts.
  const statements = new Map<string, Statement>();
  let closed = false;

  // The context is filled in two steps because events and channels are both
  // used by every other area through it.
  const cache = new ReadCache(db);
  const ctx: SqliteContext = {
    db,
    options: opts,
    now,
    notifier,
    cache,
    group: new GroupCommit(
      db,
      () => closed,
      (work) => cache.insideWrite(work),
    ),
    doorbell,
    logger: runtime.logger,
    appendEvent: () => 0,
    ensureChannel: () => undefined,
    prepare: (sql) => {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = db.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
    isClosed: () => closed,
  };
  const events = new SqliteEvents(db, notifier, opts.max_event_buffer, ctx.isClosed);
  ctx.appendEvent = (type, channel, data, at) => events.append(type, channel, data, at);
  const channels = new SqliteChannels(ctx, events);
  ctx.ensureChannel = (name, createdBy, at) => void channels.ensure(name, createdBy, at);
  const agents = new SqliteAgents(ctx, events);
  const messages = new SqliteMessages(ctx, agents, events);
  const tasks = new SqliteTasks(ctx, agents, events);
  const state = new SqliteState(ctx, events);
  const threads = new SqliteThreads(ctx, events, (notice, threadId) => messages.send(notice, threadId));
  const claims = new SqliteWorkClaims(ctx, events, threads, agents);
  agents.leave = (agentId, at) => ({ claims: claims.releaseAllOf(agentId, at), tasks: tasks.returnAllOf(agentId, at) });
  const unread = new SqliteUnread(ctx);
  const retention = new RetentionSweep(new SqliteRetention(ctx), opts, now, () => closed, runtime.logger);

  /** Every operation goes through here: a closed store answers UNAVAILABLE instead of a driver error; a file error is noted for health(). */
  async function run<T>(fn: () => T | Promise<T>, quiet = false): Promise<T> {
    if (closed) throw storeClosed();
    if (!quiet) checkpointer?.wake(); // [speed] the WAL is looked at while the store is used (a health check is not use)
    const noted = (error: unknown): never => {
      watch?.note(error);
      throw error;
    };
    try {
      const out = fn();
      // No extra await on the hot path: a synchronous result goes back as it is.
      return out instanceof Promise ? out.catch(noted) : out;
    } catch (error) {
      return noted(error);
    }
  }

  return {
    kind: 'sqlite',
    ...areaMethods({ agents, messages, tasks, state, channels, claims, threads }, run),
    stats: (channel) =>
      run(() => {
        agents.flushTouches();
        return channels.stats(channel);
      }),
    events: (query) => run(() => events.page(query)),
    unreadCount: (agentId) => run(() => unread.of(agentId)),
    prune: () => run(() => retention.prune()),
    health: () =>
      run(() => {
        const problem = watch?.check().problem;
        return {
          store: 'sqlite',
          schema_version: schemaVersion,
          uptime_seconds: Math.floor((Date.now() - openedAt) / 1000),
          ...(problem === undefined ? {} : { problem }),
        };
      }, true),
    async close(): Promise<void> {
      if (closed) return;
      // Writes already queued were accepted: commit them, and the last-seen times held in memory.
      ctx.group.flush();
      agents.flushTouches();
      closed = true;
      tasks.stop();
      retention.stop();
      claims.stop();
      threads.stop();
      doorbell.close();
      notifier.close();
      // Waiters woken by close() run their last step (seeing isClosed) on
      // the next ticks; let them finish before the handle goes away.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await checkpointer?.close();
      db.close();
    },
  };
}

/** The connection in WAL mode; a file that is not a usable database fails with its path and the fix. */
function openFile(path: string): Database.Database {
  try {
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
    } catch (error) {
      db.close();
      throw error;
    }
    return db;
  } catch (error) {
    throw isStorageError(error) ? new CoordError('UNAVAILABLE', openFailure(path, 'coordination database', error)) : error;
  }
}
