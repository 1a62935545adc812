import type pg from 'pg';
import type { Doorbell } from '../doorbell.js';
import { topics, type Notifier } from '../notifier.js';
import type { CoordOptions } from '../options.js';
import type { CoordLogger } from '../store.js';
import type { CoordEventType } from '../types.js';
import { transaction } from './pool.js';

/** Something to run SQL on: the pool, or one transaction's client. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
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
 * One write transaction of the PostgreSQL store. It holds the store's write
 * lock (an advisory lock, shared by every gateway on the database), so writes
 * commit one at a time as with SQLite's single writer: message, event and
 * task ids, taken from counter rows inside the transaction, grow in commit
 * order, and a cursor can never pass an id that commits later. Topics it
 * touches are announced with NOTIFY, which PostgreSQL delivers at commit.
 */
export class PgTx implements Queryable {
  readonly topics = new Set<string>();

  constructor(
    readonly client: pg.PoolClient,
    private readonly maxEvents: number,
  ) {}

  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.client.query<R>(sql, params);
  }

  /** The next id of a counter ('messages', 'events', 'tasks'). */
  async next(counter: 'messages' | 'events' | 'tasks'): Promise<number> {
    const found = await row<{ value: number }>(this, 'UPDATE sequences SET value = value + 1 WHERE name = $1 RETURNING value', [counter]);
    if (found === undefined) throw new Error(`counter ${counter} is missing from the coordination database`);
    return found.value;
  }

  /** Wakes waiters on `topic`, here and on every gateway, once this transaction commits. */
  notify(topic: string): void {
    this.topics.add(topic);
  }

  /** Appends an event (and trims the buffer); returns its id. */
  async appendEvent(type: CoordEventType, channel: string | null, data: Record<string, unknown>, at: number): Promise<number> {
    const id = await this.next('events');
    await this.query('INSERT INTO events (id, type, channel, data, created_at) VALUES ($1, $2, $3, $4, $5)', [id, type, channel, JSON.stringify(data), at]);
    if (id > this.maxEvents) await this.query('DELETE FROM events WHERE id <= $1', [id - this.maxEvents]);
    this.notify(topics.events);
    return id;
  }

  /** Records a channel if it is new (emitting channel_created); true when it was. */
  async ensureChannel(name: string, createdBy: string | null, at: number, description: string | null = null): Promise<boolean> {
    const inserted = await this.query('INSERT INTO channels (name, description, created_by, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING', [
      name,
      description,
      createdBy,
      at,
    ]);
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
  /** Longest a long-poll sleeps before re-reading without a notification (long-poll.ts). */
  recheckMs: number;
  isClosed: () => boolean;
}

/** Runs `fn` as one write transaction (see PgTx); after commit wakes this process's waiters at once. */
export async function write<T>(ctx: PgContext, fn: (tx: PgTx) => Promise<T>): Promise<T> {
  let woken: Set<string> = new Set();
  const result = await transaction(ctx.pool, async (client) => {
    const tx = new PgTx(client, ctx.options.max_event_buffer);
    await client.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ' coord writes'))");
    const value = await fn(tx);
    if (tx.topics.size > 0) await client.query('SELECT pg_notify($1, t) FROM unnest($2::text[]) AS t', [ctx.channel, [...tx.topics].map(topicToPayload)]);
    woken = tx.topics;
    return value;
  });
  for (const topic of woken) ctx.notifier.notify(topic);
  return result;
}

/** Runs `fn` on one snapshot (REPEATABLE READ, read only), so its statements agree with each other. */
export function snapshot<T>(ctx: PgContext, fn: (db: Queryable) => Promise<T>): Promise<T> {
  return transaction(ctx.pool, fn, 'REPEATABLE READ READ ONLY');
}
