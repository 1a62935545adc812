import type pg from 'pg';
import { type Notifier, topics } from '../../../kit/notifier.js';
import type { PgAnnouncer } from '../../../kit/pg-announcer.js';
import { transaction } from '../../../kit/pg-pool.js';
import type { Doorbell } from '../doorbell.js';
import type { CoordOptions } from '../options.js';
import type { CoordLogger } from '../store.js';
import type { CoordEventType } from '../types.js';
import type { InboxMemo } from './inbox-memo.js';

/** Something to run SQL on: the pool, or one transaction's client. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(sql: string | pg.QueryConfig, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Rows of one statement. */
export async function rows<R extends pg.QueryResultRow>(db: Queryable, sql: string, params: unknown[] = []): Promise<R[]> {
  return (await db.query<R>(sql, params)).rows;
}

/** The first row of one statement, if any. */
export async function row<R extends pg.QueryResultRow>(db: Queryable, sql: string, params: unknown[] = []): Promise<R | undefined> {
  return (await db.query<R>(sql, params)).rows[0];
}

/**
 * The first row of a hot statement, prepared once per connection under
 * `name` ([pg-speed]): later calls skip the parse and plan on the server and
 * send only Bind and Execute. Each name must always carry the same SQL.
 */
export function preparedRow<R extends pg.QueryResultRow>(db: Queryable, name: string, sql: string, params: unknown[]): Promise<R | undefined> {
  // [pg-speed] A reaction on the query's promise, not an async frame and an await: these run for every send and poll.
  return db.query<R>({ name, text: sql, values: params }).then(firstRow);
}

/** Every row of a hot statement, prepared as preparedRow's. */
export function preparedRows<R extends pg.QueryResultRow>(db: Queryable, name: string, sql: string, params: unknown[]): Promise<R[]> {
  return db.query<R>({ name, text: sql, values: params }).then(allRows);
}

const firstRow = <R extends pg.QueryResultRow>(result: pg.QueryResult<R>): R | undefined => result.rows[0];
const allRows = <R extends pg.QueryResultRow>(result: pg.QueryResult<R>): R[] => result.rows;

/**
 * One write transaction of the PostgreSQL store. It holds the store's write
 * lock (an advisory lock, shared by every gateway on the database), so these
 * writes commit one at a time: task ids, taken from a counter row inside the
 * transaction, grow in commit order. Messages do not take this lock (one
 * function call each, ordered per inbox) and event ids are read below a
 * watermark: see migration-lockfree.ts. Topics it touches are announced to
 * the other gateways after the commit (kit/pg-announcer.ts).
 */
export class PgTx implements Queryable {
  readonly topics = new Set<string>();

  constructor(
    readonly client: pg.PoolClient,
    private readonly maxEvents: number,
  ) {}

  query<R extends pg.QueryResultRow>(sql: string | pg.QueryConfig, params?: unknown[]): Promise<pg.QueryResult<R>> {
    return typeof sql === 'string' ? this.client.query<R>(sql, params) : this.client.query<R>(sql);
  }

  /** The next task id (schema 7 moved message and event ids to sequences: migration-lockfree.ts). */
  async next(counter: 'tasks'): Promise<number> {
    const found = await row<{ value: number }>(this, 'UPDATE sequences SET value = value + 1 WHERE name = $1 RETURNING value', [counter]);
    if (found === undefined) throw new Error(`counter ${counter} is missing from the coordination database`);
    return found.value;
  }

  /** Wakes waiters on `topic`, here and on every gateway, once this transaction has committed. */
  notify(topic: string): void {
    this.topics.add(topic);
  }

  /** Appends an event (and trims the buffer); returns its id. */
  async appendEvent(type: CoordEventType, channel: string | null, data: Record<string, unknown>, at: number): Promise<number> {
    // One round trip: the id (after the transaction id, for the readers' watermark), the row, and the trim of what falls out of the buffer.
    const added = await row<{ id: number }>(this, 'SELECT coord_event($1, $2, $3, $4, $5) AS id', [type, channel, JSON.stringify(data), at, this.maxEvents]);
    if (added === undefined) throw new Error('coord_event returned nothing');
    this.notify(topics.events);
    return added.id;
  }

  /** Records a channel if it is new (emitting channel_created); true when it was. */
  async ensureChannel(name: string, createdBy: string | null, at: number, description: string | null = null): Promise<boolean> {
    const inserted = await this.query(
      'INSERT INTO channels (name, description, created_by, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING',
      [name, description, createdBy, at],
    );
    if (inserted.rowCount !== 1) return false;
    await this.appendEvent('channel_created', name, { name, created_by: createdBy, description }, at);
    return true;
  }
}

/** NOTIFY payloads cannot hold NUL, which separates the parts of a topic. */
export const topicToPayload = (topic: string): string => topic.replaceAll('\0', '\u001f');
export const payloadToTopic = (payload: string): string => payload.replaceAll('\u001f', '\0');

/** What every area of the PostgreSQL store shares. */
export interface PgContext {
  pool: pg.Pool;
  options: CoordOptions;
  now: () => number;
  notifier: Notifier;
  doorbell: Doorbell;
  logger: CoordLogger | undefined;
  /** The NOTIFY channel of this store (one per database schema). */
  channel: string;
  /** Announces committed topics to the other gateways (the NOTIFY leaves after the commit: kit/pg-announcer.ts). */
  announcer: PgAnnouncer;
  /** Longest a long-poll sleeps before re-reading without a notification (long-poll.ts). */
  recheckMs: number;
  /** What this gateway last knew of the inboxes it polled; every wake-up touches it (inbox-memo.ts). */
  inboxes: InboxMemo;
  isClosed: () => boolean;
}

/** The lock a write transaction takes: the store's (default), or a narrower one for writes that need no global order. */
export type WriteLock = { global: true } | { key: string };

/** Runs `fn` as one write transaction (see PgTx); after commit wakes this process's waiters at once. */
export async function write<T>(ctx: PgContext, fn: (tx: PgTx) => Promise<T>, lock: WriteLock = { global: true }): Promise<T> {
  let tx: PgTx | undefined;
  const key = 'global' in lock ? ' coord writes' : ` coord ${lock.key}`;
  const result = await transaction(
    ctx.pool,
    (client) => {
      tx = new PgTx(client, ctx.options.max_event_buffer);
      return fn(tx);
    },
    { begin: `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ${pgLiteral(key)}))` },
  );
  wake(ctx, tx?.topics ?? []);
  return result;
}

/** After a commit: wakes this process's waiters on `topics` at once, and the other gateways' through the announcer. */
export function wake(ctx: PgContext, topics: Iterable<string>): void {
  // [pg-speed] A store alone on its database announces nothing (kit/pg-announcer.ts, ALONE): no payload is built for it.
  const announcing = ctx.announcer.announcing;
  for (const topic of topics) {
    ctx.inboxes.touch(topic);
    ctx.notifier.notify(topic);
    if (announcing) ctx.announcer.announce(topicToPayload(topic));
  }
}

/** A string as a SQL literal (standard_conforming_strings, always on since PostgreSQL 9.1). */
export function pgLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Runs `fn` on one snapshot (REPEATABLE READ, read only), so its statements agree with each other. */
export function snapshot<T>(ctx: PgContext, fn: (db: Queryable) => Promise<T>): Promise<T> {
  return transaction(ctx.pool, fn, { isolation: 'REPEATABLE READ READ ONLY' });
}
