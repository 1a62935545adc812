import type { Context } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { CoordError } from './errors.js';
import { eventFor, threadOf } from './event-view.js';
import type { CoordOptions } from './options.js';
import type { CoordLogger, CoordStore } from './store.js';
import type { CoordEvent } from './types.js';
import { channelName } from './validate.js';

/** Milliseconds an EventSource waits before reconnecting (the SSE `retry:` field). */
const RETRY_MS = 2_000;

/** The query parameters GET /events takes; any other is refused, as every route refuses unknown fields. */
const EVENT_PARAMS: readonly string[] = ['channel', 'after', 'last_event_id'];

/** BAD_REQUEST naming the query parameters /events does not take. */
function checkParams(c: Context): void {
  const unknown = Object.keys(c.req.query()).filter((key) => !EVENT_PARAMS.includes(key));
  if (unknown.length > 0) {
    throw new CoordError(
      'BAD_REQUEST',
      `Invalid request: unknown query parameter(s) ${unknown.map((k) => `'${k}'`).join(', ')} (GET /events takes ${EVENT_PARAMS.join(', ')}).`,
    );
  }
}

/** Where a stream starts, and the id the client asked for when that was past the newest event. */
interface Start {
  cursor: number;
  /** The Last-Event-ID (or after) asked for, when it was past the newest event: the stream resumes from now. */
  ahead?: { asked: number; oldest_id: number | null };
}

/**
 * Where a stream starts: Last-Event-ID (what EventSource sends on
 * reconnect), else ?last_event_id=, else ?after=, else "from now". An id
 * past the newest event was never issued by this store (its database was
 * replaced, or the client kept an id from elsewhere): the stream resumes
 * from now and says so first (events_trimmed with reason "ahead"), rather
 * than skip every event up to that id in silence. It is not refused, as
 * poll's `after` is, because EventSource resends the header on every
 * reconnect and stops for good on an error answer.
 */
async function startingPoint(c: Context, store: CoordStore): Promise<Start> {
  const raw = c.req.header('last-event-id') ?? c.req.query('last_event_id') ?? c.req.query('after');
  const newest = (): ReturnType<CoordStore['events']> => store.events({ after: Number.MAX_SAFE_INTEGER - 1, limit: 1 });
  if (raw === undefined || raw === '') return { cursor: (await newest()).last_id };
  if (!/^\d+$/.test(raw)) throw new CoordError('BAD_REQUEST', `Last-Event-ID '${raw}' is not an event id; send the id of the last event you received.`);
  const asked = Number(raw);
  const { last_id, oldest_id } = await newest();
  return asked > last_id ? { cursor: last_id, ahead: { asked, oldest_id } } : { cursor: asked };
}

/** Finds out, once per thread, whether `viewer` takes part in the threads a page of events is about. */
async function learnThreads(events: readonly CoordEvent[], viewer: string, store: CoordStore, threads: Map<string, boolean>): Promise<void> {
  for (const event of events) {
    const id = threadOf(event);
    if (id === undefined || threads.has(id)) continue;
    // A participant (or a claim admin) may read the thread; anyone else is refused.
    threads.set(
      id,
      await store.getThread({ thread_id: id, agent_id: viewer }).then(
        () => true,
        () => false,
      ),
    );
  }
}

/**
 * GET /events: Server-Sent Events for every stored change. Each event has
 * `id:` (the global event id), `event:` (its type) and JSON `data:` (the
 * event's fields plus channel and at). A client that reconnects with
 * Last-Event-ID gets every event after it that is still buffered; if some
 * were trimmed meanwhile it first gets an `events_trimmed` event saying from
 * where the buffer starts. A Last-Event-ID past the newest event resumes
 * from now, after an `events_trimmed` event with reason "ahead". Unknown
 * query parameters are refused (BAD_REQUEST). Idle streams carry a `: keepalive` comment every
 * sse_keepalive seconds. A request whose `coordViewer` is set sees the
 * stream as that agent (event-view.ts).
 */
export async function eventStream(c: Context, store: CoordStore, options: CoordOptions, logger: CoordLogger | undefined): Promise<Response> {
  checkParams(c);
  const channelParam = c.req.query('channel');
  const channel = channelParam === undefined ? undefined : channelName(channelParam);
  const start = await startingPoint(c, store);
  let cursor = start.cursor;
  const keepaliveMs = options.sse_keepalive * 1000;
  const viewer = c.get('coordViewer');
  /** Threads by id: whether the viewer takes part (participants are fixed when a thread opens). */
  const threads = new Map<string, boolean>();

  return streamSSE(c, async (stream: SSEStreamingApi) => {
    const closed = new AbortController();
    stream.onAbort(() => closed.abort());
    c.req.raw.signal.addEventListener('abort', () => closed.abort(), { once: true });
    try {
      await stream.write(`retry: ${RETRY_MS}\n: stream open, resuming after event ${cursor}\n\n`);
      if (start.ahead !== undefined) {
        const data = { requested_after: start.ahead.asked, oldest_id: start.ahead.oldest_id, resumed_after: cursor, reason: 'ahead' };
        // Its id resets the client's Last-Event-ID, so a reconnect resumes from here.
        await stream.writeSSE({ id: String(cursor), event: 'events_trimmed', data: JSON.stringify(data) });
      }
      let first = start.ahead === undefined;
      while (!closed.signal.aborted && !stream.aborted) {
        const page = await store.events({ after: cursor, channel, limit: 500, timeout_ms: keepaliveMs, signal: closed.signal });
        if (first && cursor > 0 && page.oldest_id !== null && page.oldest_id > cursor + 1) {
          await stream.writeSSE({ event: 'events_trimmed', data: JSON.stringify({ requested_after: cursor, oldest_id: page.oldest_id, reason: 'trimmed' }) });
        }
        first = false;
        if (viewer !== undefined) await learnThreads(page.events, viewer, store, threads);
        for (const stored of page.events) {
          const event = eventFor(stored, viewer, (id) => threads.get(id) === true);
          if (event === undefined) continue;
          await stream.writeSSE({ id: String(event.id), event: event.type, data: JSON.stringify({ ...event.data, channel: event.channel, at: event.at }) });
        }
        cursor = page.next_after;
        if (page.events.length === 0 && !closed.signal.aborted) await stream.write(': keepalive\n\n');
      }
    } catch (error) {
      // Store closing or client gone; either way the stream ends and the
      // client resumes from its Last-Event-ID.
      if (!(error instanceof CoordError)) logger?.warn({ error: String(error) }, 'coord event stream ended with an error');
    }
  });
}
