import type { CoordEvent } from './types.js';

declare module 'hono' {
  interface ContextVariableMap {
    /**
     * The agent a request reads /events as, set by the host that mounts the
     * coordination routes (the gateway sets it for an agent token's
     * requests); unset, the stream carries every event in full.
     */
    coordViewer: string | undefined;
  }
}

/** Event types whose `content` only their author (`field`) sees in full. */
const AUTHORED: Partial<Record<CoordEvent['type'], string>> = { broadcast: 'from' };

/** The thread an event is about, for the events of threads (visible to their participants only). */
export function threadOf(event: CoordEvent): string | undefined {
  return event.type.startsWith('thread_') && typeof event.data.thread_id === 'string' ? event.data.thread_id : undefined;
}

/**
 * What an agent may see of an event on the stream, so a stream is no way
 * around inboxes, history and threads: a direct message only if it sent or
 * received it; a broadcast without its `content` unless it wrote it (it
 * reads the broadcasts it received with mux_poll and mux_history); the
 * events of a thread only if it takes part (`inThread`, asked only for
 * thread events), and then in full. Undefined: leave the event out. Every
 * other event carries no message text and is shown as it is.
 */
export function eventFor(event: CoordEvent, viewer: string | undefined, inThread: (threadId: string) => boolean = () => false): CoordEvent | undefined {
  if (viewer === undefined) return event;
  const { data } = event;
  if (event.type === 'message') return data.from === viewer || data.to === viewer ? event : undefined;
  const thread = threadOf(event);
  if (thread !== undefined) return inThread(thread) ? event : undefined;
  const author = AUTHORED[event.type];
  if (author === undefined || data[author] === viewer || !('content' in data)) return event;
  const { content: _content, ...rest } = data;
  return { ...event, data: rest };
}
