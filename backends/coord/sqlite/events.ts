import type { Database, Statement } from 'better-sqlite3';
import { longPoll, type Notifier, topics } from '../../../kit/notifier.js';
import { CoordError } from '../errors.js';
import { type EventRow, toEvent } from '../rows.js';
import { SHUTDOWN } from '../rules.js';
import type { CoordEventType, EventsPage, EventsQuery } from '../types.js';
import { pageSize, position } from '../validate.js';
import { byLimit } from './by-limit.js';

/**
 * The event log: one row per change, written in the same transaction as the
 * change, so an event exists exactly when its change does. Ids come from
 * AUTOINCREMENT and grow in commit order (one writer). Only the newest
 * max_event_buffer rows are kept.
 */
export class SqliteEvents {
  private readonly insert: Statement<[string, string | null, string, number]>;
  private readonly trim: Statement<[number]>;
  private readonly after: (limit: number) => Statement<[number, string | null, string | null], EventRow>;
  private readonly bounds: Statement<[], { oldest: number | null; last: number | null }>;
  private readonly stored: Statement<[], { n: number }>;
  private readonly readPage: (after: number, channel: string | null, limit: number) => EventsPage;

  constructor(
    db: Database,
    private readonly notifier: Notifier,
    private readonly maxBuffer: number,
    private readonly isClosed: () => boolean,
  ) {
    this.insert = db.prepare('INSERT INTO events (type, channel, data, created_at) VALUES (?, ?, ?, ?)');
    this.trim = db.prepare('DELETE FROM events WHERE id <= ?');
    this.after = byLimit(
      db,
      (limit) => `SELECT id, type, channel, data, created_at FROM events
       WHERE id > ? AND (? IS NULL OR channel IS NULL OR channel = ?)
       ORDER BY id LIMIT ${limit}`,
    );
    this.bounds = db.prepare(
      `SELECT (SELECT MIN(id) FROM events) AS oldest,
              (SELECT seq FROM sqlite_sequence WHERE name = 'events') AS last`,
    );
    this.stored = db.prepare('SELECT COUNT(*) AS n FROM events');
    // A read transaction gives one snapshot for the rows and the bounds, so
    // next_after never jumps over an event that the row query did not see.
    this.readPage = db.transaction((after: number, channel: string | null, limit: number): EventsPage => {
      const rows = this.after(limit).all(after, channel, channel);
      const { oldest, last } = this.bounds.get() ?? { oldest: null, last: null };
      const lastId = last ?? 0;
      const full = rows.length === limit;
      const tail = rows[rows.length - 1];
      return {
        events: rows.map(toEvent),
        next_after: full && tail !== undefined ? tail.id : Math.max(after, lastId),
        oldest_id: oldest,
        last_id: lastId,
      };
    }).deferred;
  }

  /** Appends inside the caller's transaction and trims the buffer; the caller notifies after commit. */
  append(type: CoordEventType, channel: string | null, data: Record<string, unknown>, at: number): number {
    const id = Number(this.insert.run(type, channel, JSON.stringify(data), at).lastInsertRowid);
    if (id > this.maxBuffer) this.trim.run(id - this.maxBuffer);
    return id;
  }

  /** Wakes SSE streams and event long-polls; call after a commit that appended events. */
  committed(): void {
    this.notifier.notify(topics.events);
  }

  async page(query: EventsQuery): Promise<EventsPage> {
    const after = position(query.after, 'Event id') ?? 0;
    const limit = pageSize(query.limit, 500);
    const channel = query.channel ?? null;
    const found = await longPoll(this.notifier, topics.events, query.timeout_ms ?? 0, query.signal, () => {
      const page = this.readPage(after, channel, limit);
      return page.events.length > 0 ? page : undefined;
    });
    if (found !== undefined) return found;
    if (this.isClosed()) throw new CoordError('UNAVAILABLE', SHUTDOWN.events);
    return this.readPage(after, channel, limit);
  }

  /** Newest id and number of stored events. */
  counts(): { last_id: number; stored: number } {
    const { last } = this.bounds.get() ?? { last: null };
    return { last_id: last ?? 0, stored: this.stored.get()?.n ?? 0 };
  }
}
