import { afterAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml } from '../helpers/coord-harness.js';
import { startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { startGateway, stopAll } from '../helpers/harness.js';
import { eventsOf, readSse } from '../helpers/sse.js';

/*
 * Issue #21 item 6 made thread notices in inboxes carry `kind: "thread"` and
 * `thread_id` on poll and history, but the `message` event of the same
 * notice on /coord/events carried neither: a client following the stream
 * could tell a notice only by its text prefix. The event now carries both
 * (a plain message's does not), on the gateway's /coord/events and the
 * standalone server's.
 */

afterAll(async () => {
  await stopAll();
  await stopCoords();
});

interface Surface {
  url: string;
  post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
}

async function gatewaySurface(): Promise<Surface> {
  const gw = await startGateway(coordToml());
  await coordReady(gw);
  return { url: gw.url, post: (path, body) => gw.request('POST', `/coord${path}`, body) };
}

async function standaloneSurface(): Promise<Surface> {
  const coord = await startCoord(':memory:');
  return { url: coord.url, post: coord.post };
}

for (const [name, open] of [
  ['gateway', gatewaySurface],
  ['standalone', standaloneSurface],
] as const) {
  describe(`issue 21: a thread notice's message event names its thread (${name})`, () => {
    it('the SSE message event of a notice carries kind "thread" and thread_id; a plain message does not', async () => {
      const surface = await open();
      for (const agent_id of ['opener', 'asked']) expect((await surface.post('/agent/register', { agent_id, role: 'dev' })).status).toBe(200);
      const opened = await surface.post('/thread/open', { agent_id: 'opener', participants: ['asked'], subject: 'Who owns the parser?' });
      expect(opened.status, JSON.stringify(opened.body)).toBe(200);
      const threadId = opened.body.id as string;
      expect((await surface.post('/msg/send', { from: 'opener', to: 'asked', content: 'plain' })).status).toBe(200);

      const res = await fetch(`${surface.url}/coord/events?after=0`);
      expect(res.status).toBe(200);
      const messages = (frames: ReturnType<typeof eventsOf>): Array<Record<string, unknown>> =>
        frames.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as Record<string, unknown>);
      const frames = await readSse(res.body as ReadableStream<Uint8Array>, (read) => messages(eventsOf(read)).length >= 2);
      const [notice, plain] = messages(eventsOf(frames));
      expect(notice).toMatchObject({ from: 'opener', to: 'asked', kind: 'thread', thread_id: threadId });
      expect(String(notice?.content)).toContain(`[thread ${threadId}]`);
      expect(plain).toMatchObject({ from: 'opener', to: 'asked', content: 'plain' });
      expect(plain).not.toHaveProperty('thread_id');
      expect(plain).not.toHaveProperty('kind');
    });
  });
}
