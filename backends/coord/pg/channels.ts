import { topics } from '../../../kit/notifier.js';
import { CoordError } from '../errors.js';
import { CHANNEL_COLUMNS, type ChannelRow, type EventRow, toChannel, toEvent, toStats } from '../rows.js';
import { SHUTDOWN } from '../rules.js';
import type { Channel, CoordStats, CreateChannelInput, CreateChannelResult, EventsPage, EventsQuery, TaskStatus } from '../types.js';
import { channelName, newChannelName, optionalIdent, pageSize, position } from '../validate.js';
import { type PgContext, type Queryable, row, rows, snapshot, write } from './context.js';
import { longPollAsync } from './long-poll.js';

/** Longest a page waits for the writers in flight at its horizon to finish (migration-lockfree.ts, argument 2). */
const HORIZON_WAIT_MS = 500;

/** Channels, the statistics over them, and the event log, on PostgreSQL. */
export class PgChannels {
  constructor(private readonly ctx: PgContext) {}

  async create(input: CreateChannelInput): Promise<CreateChannelResult> {
    const name = newChannelName(input.name);
    const createdBy = optionalIdent(input.created_by, 'created_by');
    const description = input.description === undefined || input.description === '' ? null : input.description;
    const created = await write(this.ctx, (tx) => tx.ensureChannel(name, createdBy, this.ctx.now(), description));
    const found = await row<ChannelRow>(this.ctx.pool, `SELECT ${CHANNEL_COLUMNS} FROM channels c WHERE c.name = $1`, [name]);
    if (found === undefined) throw new Error(`channel ${name} vanished after insert`);
    return { channel: toChannel(found), created };
  }

  async list(): Promise<Channel[]> {
    return (await rows<ChannelRow>(this.ctx.pool, `SELECT ${CHANNEL_COLUMNS} FROM channels c ORDER BY c.name`)).map(toChannel);
  }

  stats(channel: string | undefined): Promise<CoordStats> {
    const scoped = channel === undefined ? null : channelName(channel);
    const staleBefore = this.ctx.now() - this.ctx.options.stale_threshold * 1000;
    const where = (alias: string): string => (scoped === null ? 'TRUE' : `${alias}.channel = $1`);
    const p = scoped === null ? [] : [scoped];
    return snapshot(this.ctx, async (db) => {
      const agents = (await row<{ total: number; active: number }>(
        db,
        `SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE last_heartbeat >= $${p.length + 1}) AS active FROM agents a WHERE ${where('a')}`,
        [...p, staleBefore],
      )) ?? { total: 0, active: 0 };
      const messages = (await row<{ total: number; direct: number }>(
        db,
        `SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE kind = 'direct') AS direct FROM messages m WHERE ${where('m')}`,
        p,
      )) ?? { total: 0, direct: 0 };
      const taskRows = await rows<{ status: TaskStatus; n: number }>(db, `SELECT status, COUNT(*) AS n FROM tasks t WHERE ${where('t')} GROUP BY status`, p);
      const stateKeys = (await row<{ n: number }>(db, `SELECT COUNT(*) AS n FROM state s WHERE ${where('s')}`, p))?.n ?? 0;
      const channels = (await row<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM channels'))?.n ?? 0;
      return toStats(scoped, { agents, messages, taskRows, stateKeys, channels, events: await eventCounts(db) });
    });
  }

  /** Stored events after an id, waiting up to timeout_ms (on any gateway's commit) for the first one. */
  async events(query: EventsQuery): Promise<EventsPage> {
    const after = position(query.after, 'Event id') ?? 0;
    const limit = pageSize(query.limit, 500);
    const channel = query.channel ?? null;
    const found = await longPollAsync(
      this.ctx.notifier,
      topics.events,
      query.timeout_ms ?? 0,
      query.signal,
      async () => {
        const page = await this.page(after, channel, limit);
        return page.events.length > 0 ? page : undefined;
      },
      this.ctx.recheckMs,
    );
    if (found !== undefined) return found;
    if (this.ctx.isClosed()) throw new CoordError('UNAVAILABLE', SHUTDOWN.events);
    return this.page(after, channel, limit);
  }

  /** The highest event id known safe to deliver: no event at or below it can still commit (migration-lockfree.ts, argument 2). */
  #safe = 0;

  /**
   * Rows and bounds from one snapshot, so next_after never jumps over an
   * event the rows did not include, bounded by the watermark: the horizon
   * (the last event id handed out, then the writers in flight) becomes the
   * watermark in a snapshot where all those writers have finished.
   */
  private async page(after: number, channel: string | null, limit: number): Promise<EventsPage> {
    // Proven in a snapshot older than the ones below, so it holds there too; a page racing this one can only raise it.
    const proven = this.#safe;
    const horizon = await row<{ last_id: number; in_flight: string; low: string; bound: string }>(
      this.ctx.pool,
      'SELECT last_id, in_flight::text[]::text AS in_flight, low::text, bound::text FROM coord_event_horizon()',
    );
    // The writers of the horizon finish within moments (each is one statement): re-check in a fresh snapshot, backing
    // off, for up to HORIZON_WAIT_MS; a transaction that stays open longer (any client's) leaves the proven watermark.
    for (let waited = 0, pause = 1; ; waited += pause, pause *= 2) {
      const last = waited >= HORIZON_WAIT_MS;
      const page = await this.read(after, channel, limit, proven, horizon, last);
      if (page !== undefined) return page;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** One snapshot's page; undefined when the horizon has not passed in it (unless `settle`: then the proven watermark bounds it). */
  private read(
    after: number,
    channel: string | null,
    limit: number,
    proven: number,
    horizon: { last_id: number; in_flight: string; low: string; bound: string } | undefined,
    settle: boolean,
  ): Promise<EventsPage | undefined> {
    return snapshot(this.ctx, async (db) => {
      let lastId = proven;
      if (horizon !== undefined) {
        const passed = await row<{ done: boolean }>(db, 'SELECT coord_horizon_passed($1::xid8[], $2::xid8, $3::xid8) AS done', [
          horizon.in_flight,
          horizon.low,
          horizon.bound,
        ]);
        if (passed?.done === true) lastId = Math.max(proven, horizon.last_id);
        else if (!settle) return undefined;
      }
      this.#safe = Math.max(this.#safe, lastId);
      const found = await rows<EventRow>(
        db,
        `SELECT id, type, channel, data, created_at FROM events
         WHERE id > $1 AND id <= $2 AND ($3::text IS NULL OR channel IS NULL OR channel = $3)
         ORDER BY id LIMIT $4`,
        [after, lastId, channel, limit],
      );
      const bounds = await row<{ oldest: number | null }>(db, 'SELECT MIN(id) AS oldest FROM events');
      const tail = found[found.length - 1];
      return {
        events: found.map(toEvent),
        next_after: found.length === limit && tail !== undefined ? tail.id : Math.max(after, lastId),
        oldest_id: bounds?.oldest ?? null,
        last_id: lastId,
      };
    });
  }
}

async function eventCounts(db: Queryable): Promise<{ last_id: number; stored: number }> {
  const counts = await row<{ last: number; stored: number }>(db, 'SELECT coord_last_event() AS last, (SELECT COUNT(*) FROM events) AS stored');
  return { last_id: counts?.last ?? 0, stored: counts?.stored ?? 0 };
}
