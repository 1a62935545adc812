import type { EventStore, JSONRPCMessage } from '@modelcontextprotocol/server';

interface StoredEvent {
  id: string;
  stream: string;
  message: JSONRPCMessage;
}

/**
 * Keeps the last events of one session's SSE streams so that a client that
 * lost its connection can resume with Last-Event-ID. Bounded: the oldest
 * events go first. Event ids are `<stream>_<seq>`, so a replay knows its
 * stream without a lookup table.
 */
export class MemoryEventStore implements EventStore {
  readonly #events: StoredEvent[] = [];
  readonly #max: number;
  #seq = 0;

  constructor(maxEvents = 1_000) {
    this.#max = maxEvents;
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    this.#seq += 1;
    const id = `${streamId}_${this.#seq}`;
    this.#events.push({ id, stream: streamId, message });
    if (this.#events.length > this.#max) this.#events.shift();
    return id;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const cut = eventId.lastIndexOf('_');
    return cut > 0 ? eventId.slice(0, cut) : undefined;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const stream = (await this.getStreamIdForEventId(lastEventId)) ?? '';
    const after = Number(lastEventId.slice(lastEventId.lastIndexOf('_') + 1));
    for (const event of this.#events) {
      if (event.stream !== stream) continue;
      if (Number(event.id.slice(event.id.lastIndexOf('_') + 1)) <= after) continue;
      await send(event.id, event.message);
    }
    return stream;
  }
}
