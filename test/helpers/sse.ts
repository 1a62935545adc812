/** One parsed SSE frame: an event with id/type/data, or a comment. */
export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/**
 * Reads SSE frames from a response body until `done` says stop (or the
 * deadline passes), then cancels the stream. Returns every frame read.
 */
export async function readSse(body: ReadableStream<Uint8Array>, done: (frames: SseFrame[]) => boolean, timeoutMs = 5000): Promise<SseFrame[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const frames: SseFrame[] = [];
  let buffer = '';
  const deadline = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    while (!done(frames)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const frame: SseFrame = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) frame.comment = line.slice(1).trim();
          else if (line.startsWith('id: ')) frame.id = line.slice(4);
          else if (line.startsWith('event: ')) frame.event = line.slice(7);
          else if (line.startsWith('data: ')) frame.data = (frame.data === undefined ? '' : `${frame.data}\n`) + line.slice(6);
        }
        frames.push(frame);
      }
    }
  } finally {
    clearTimeout(deadline);
    await reader.cancel().catch(() => undefined);
  }
  return frames;
}

/** Frames that carry an event (not comments or retry hints). */
export function eventsOf(frames: SseFrame[]): Array<Required<Pick<SseFrame, 'id' | 'event' | 'data'>>> {
  return frames.flatMap((f) => (f.id !== undefined && f.event !== undefined && f.data !== undefined ? [{ id: f.id, event: f.event, data: f.data }] : []));
}
