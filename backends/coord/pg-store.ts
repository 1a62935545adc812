import { createHash, randomBytes } from 'node:crypto';
import { Notifier } from '../../kit/notifier.js';
import { PgAnnouncer } from '../../kit/pg-announcer.js';
import { PgListener } from '../../kit/pg-listener.js';
import { migratePostgres, type PgMigration } from '../../kit/pg-migrate.js';
import { openPgPool, type PgSettings } from '../../kit/pg-pool.js';
import { Doorbell } from './doorbell.js';
import { CoordError } from './errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { type CoordOptionsInput, coordOptions } from './options.js';
import { PgAgents } from './pg/agents.js';
import { PgChannels } from './pg/channels.js';
import { type PgContext, payloadToTopic } from './pg/context.js';
import { InboxMemo } from './pg/inbox-memo.js';
import { RECHECK_MS } from './pg/long-poll.js';
import { PgMessages } from './pg/messages.js';
import { PgRetention } from './pg/retention.js';
import { PgState } from './pg/state.js';
import { PgTasks } from './pg/tasks.js';
import { PgThreads } from './pg/threads.js';
import { PgWorkClaims } from './pg/work-claims.js';
import { RetentionSweep } from './retention.js';
import { storeClosed } from './rules.js';
import type { CoordStore, StoreRuntime } from './store.js';
import { areaMethods } from './store-methods.js';
import { ident } from './validate.js';

export type { PgSettings } from '../../kit/pg-pool.js';

/** Store runtime plus, for tests, how long a long-poll sleeps before re-reading without a notification. */
export interface PgStoreRuntime extends StoreRuntime {
  recheckMs?: number;
}

/** The coordination schema steps in PostgreSQL's dialect; a step written only for SQLite cannot be opened here. */
export function postgresSteps(migrations: readonly Migration[] = MIGRATIONS): PgMigration[] {
  return migrations.map((m) => {
    if (m.postgres === undefined)
      throw new Error(`coordination schema step ${m.version} (${m.name}) has no PostgreSQL dialect; this stonegate cannot use a PostgreSQL store`);
    return { version: m.version, name: m.name, postgres: m.postgres };
  });
}

/**
 * Opens the coordination store in PostgreSQL (creating and migrating its
 * tables as needed). Several gateways may open the same database: messages
 * are one function call each, ordered per inbox without a store-wide lock
 * (migration-lockfree.ts); other writes serialize on an advisory lock; and
 * LISTEN/NOTIFY wakes long-polls, watches and event streams on every gateway
 * when any of them commits.
 */
export async function openPgStore(settings: PgSettings, options: CoordOptionsInput = {}, runtime: PgStoreRuntime = {}): Promise<CoordStore> {
  const opts = coordOptions(options);
  const pool = await openPgPool(settings);
  let schemaVersion: number;
  try {
    schemaVersion = await migratePostgres(pool, 'coord_schema_version', postgresSteps(), 'coordination');
  } catch (error) {
    await pool.end();
    throw error;
  }
  const openedAt = Date.now();
  const notifier = new Notifier();
  let closed = false;
  const channel = `coord_${createHash('sha256')
    .update(settings.schema ?? 'public')
    .digest('hex')
    .slice(0, 20)}`;
  // This store's own announcements come back to its listener: it woke its waiters at the commit already.
  // Announcements leave on the LISTEN connection (no wait for a pool connection under load); while it reconnects, through the pool.
  let listening: PgListener | undefined;
  const announce = (sql: string, params: unknown[]): Promise<unknown> => listening?.query(sql, params) ?? pool.query(sql, params);
  const announcer = new PgAnnouncer(announce, channel, randomBytes(6).toString('base64url'), runtime.logger);
  const ctx: PgContext = {
    pool,
    options: opts,
    now: runtime.now ?? Date.now,
    notifier,
    doorbell: new Doorbell(opts, runtime.logger),
    logger: runtime.logger,
    channel,
    announcer,
    isClosed: () => closed,
    recheckMs: runtime.recheckMs ?? RECHECK_MS,
    inboxes: new InboxMemo(),
  };
  // Notifications sent while the listening connection was being reopened are
  // lost: once it listens again every waiter re-reads (the catch-up), so the
  // delay is the reconnect, not a poll interval.
  const listener = await PgListener.open(
    settings,
    ctx.channel,
    (payload) => {
      // [pg-speed] Other processes' topics, and the words by which a store learns it is not alone (kit/pg-announcer.ts, ALONE).
      const { topics, catchUp } = announcer.heard(payload);
      if (catchUp) {
        ctx.inboxes.clear();
        notifier.notifyAll();
      } else
        for (const topic of topics) {
          const key = payloadToTopic(topic);
          ctx.inboxes.touch(key); // [pg-speed] what this gateway knew of that inbox no longer holds (pg/inbox-memo.ts)
          notifier.notify(key);
        }
    },
    () => {
      ctx.inboxes.clear();
      notifier.notifyAll();
      announcer.hello(); // notifications to this store were lost meanwhile: a store that started then learns of it now
    },
    runtime.logger,
  ).catch(async (error: unknown) => {
    await pool.end();
    throw error;
  });
  listening = listener;
  announcer.hello(); // [pg-speed] nothing is announced until another store on the channel answers (kit/pg-announcer.ts, ALONE)
  const agents = new PgAgents(ctx);
  const channels = new PgChannels(ctx);
  const messages = new PgMessages(ctx, agents);
  const tasks = new PgTasks(ctx, agents);
  const state = new PgState(ctx);
  // Thread notices go through the message path, so long-polls on every gateway wake.
  const threads = new PgThreads(ctx, (notice, threadId) => messages.send(notice, threadId));
  const claims = new PgWorkClaims(ctx, threads);
  agents.leave = async (tx, agentId, at) => ({ claims: await claims.releaseAllOf(tx, agentId, at), tasks: await tasks.returnAllOf(tx, agentId, at) });
  const retention = new RetentionSweep(new PgRetention(ctx), opts, ctx.now, () => closed, runtime.logger);

  /** A failure as the caller gets it: a driver error of a store closing (a query cut off by close) is UNAVAILABLE. */
  const refusal = (error: unknown): Promise<never> => Promise.reject(closed && !(error instanceof CoordError) ? storeClosed() : error);
  /**
   * Every operation goes through here: a closed store answers UNAVAILABLE instead of a driver error (also for a query cut
   * off by close). [pg-speed] Not an async function: one reaction on the operation's promise instead of a frame and an
   * await per call (issue #31).
   */
  function run<T>(fn: () => T | Promise<T>): Promise<T> {
    if (closed) return Promise.reject(storeClosed());
    let out: T | Promise<T>;
    try {
      out = fn();
    } catch (error) {
      return refusal(error);
    }
    return out instanceof Promise ? out.then(undefined, refusal) : Promise.resolve(out);
  }

  return {
    kind: 'postgres',
    ...areaMethods({ agents, messages, tasks, state, channels, claims, threads }, run),
    stats: (channel) => run(() => channels.stats(channel)),
    events: (query) => run(() => channels.events(query)),
    unreadCount: (agentId) => run(() => agents.unreadCount(pool, ident(agentId, 'agent_id'))),
    prune: () => run(() => retention.prune()),
    // One query: a database that does not answer (restarting, unreachable) is a problem /health reports, not an error.
    health: () =>
      run(async () => {
        const report = { store: 'postgres', schema_version: schemaVersion, uptime_seconds: Math.floor((Date.now() - openedAt) / 1000) };
        const problem = await pool.query('SELECT 1').then(
          () => undefined,
          (error: unknown) => `PostgreSQL did not answer: ${(error as Error).message}`,
        );
        return problem === undefined ? report : { ...report, problem };
      }),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      tasks.stop();
      retention.stop();
      claims.stop();
      threads.stop();
      ctx.doorbell.close();
      notifier.close();
      await announcer.close();
      await listener.close();
      // Waiters woken by close() run their last step (seeing isClosed) on
      // the next ticks; let them finish before the pool goes away.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await pool.end();
    },
  };
}
