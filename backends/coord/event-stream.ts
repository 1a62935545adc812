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

/** Where a stream starts: Last-Event-ID (what EventSource sends on reconnect), else ?after=, else "from now". */
async function startingPoint(c: Context, store: CoordStore): Promise<number> {
  const raw = c.req.header('last-event-id') ?? c.req.query('last_event_id') ?? c.req.query('after');
  if (raw === undefined || raw === '') return (await store.events({ after: Number.MAX_SAFE_INTEGER - 1, limit: 1 })).last_id;
  if (!/^\d+$/.test(raw)) throw new CoordError('BAD_REQUEST', `Last-Event-ID '${raw}' is not an event id; send the id of the last event you received.`);
  return Number(raw);
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
 * where the buffer starts. Idle streams carry a `: keepalive` comment every
 * sse_keepalive seconds. A request whose `coordViewer` is set sees the
 * stream as that agent (event-view.ts).
 */
export async function eventStream(c: Context, store: CoordStore, options: CoordOptions, logger: CoordLogger | undefined): Promise<Response> {
  const channelParam = c.req.query('channel');
  const channel = channelParam === undefined ? undefined : channelName(channelParam);
  let cursor = await startingPoint(c, store);
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
      let first = true;
      while (!closed.signal.aborted && !stream.aborted) {
        const page = await store.events({ after: cursor, channel, limit: 500, timeout_ms: keepaliveMs, signal: closed.signal });
        if (first && cursor > 0 && page.oldest_id !== null && page.oldest_id > cursor + 1) {
          await stream.writeSSE({ event: 'events_trimmed', data: JSON.stringify({ requested_after: cursor, oldest_id: page.oldest_id }) });
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
