import { afterAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml } from '../helpers/coord-harness.js';
import { startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { startGateway, stopAll } from '../helpers/harness.js';
import { eventsOf, readSse } from '../helpers/sse.js';

/*
 * Issue 21 item 8: a Last-Event-ID past the newest event used to be taken
 * as is, and every later event up to that id was skipped in silence. The
 * stream now resumes from now and says so first (events_trimmed, reason
 * "ahead", whose id resets the client's Last-Event-ID). Unknown query
 * parameters on /events are refused as on every other route. Both hold on
 * the gateway's /coord/events and the standalone server's.
 */

afterAll(async () => {
  await stopAll();
  await stopCoords();
});

interface Surface {
  /** Base URL whose /coord/* are the coordination routes. */
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
  describe(`/coord/events (${name})`, () => {
    it('a Last-Event-ID past the newest event resumes from now with an events_trimmed notice, and later events arrive', async () => {
      const surface = await open();
      expect((await surface.post('/agent/register', { agent_id: 'ahead-a', role: 'r' })).status).toBe(200);
      const res = await fetch(`${surface.url}/coord/events`, { headers: { accept: 'text/event-stream', 'last-event-id': '1000000' } });
      expect(res.status).toBe(200);
      // Written once the stream is open: before the fix its event id (below 1000000) was skipped.
      const reading = readSse(res.body!, (f) => eventsOf(f).some((e) => e.event === 'agent_registered'), 10_000);
      const frames = eventsOf(await Promise.all([reading, surface.post('/agent/register', { agent_id: 'ahead-b', role: 'r' })]).then(([f]) => f));
      const notice = frames[0];
      expect(notice?.event).toBe('events_trimmed');
      const data = JSON.parse(notice!.data) as Record<string, unknown>;
      expect(data).toMatchObject({ requested_after: 1000000, reason: 'ahead' });
      expect(notice!.id).toBe(String(data.resumed_after));
      const later = frames.find((e) => e.event === 'agent_registered');
      expect(JSON.parse(later!.data)).toMatchObject({ agent_id: 'ahead-b' });
      expect(Number(later!.id)).toBeGreaterThan(Number(data.resumed_after));
    });

    it('refuses unknown query parameters with BAD_REQUEST naming them', async () => {
      const surface = await open();
      for (const query of ['chanel=default', 'after=0&bogus=1', 'last-event-id=3']) {
        const res = await fetch(`${surface.url}/coord/events?${query}`, { headers: { accept: 'text/event-stream' } });
        expect(res.status, query).toBe(400);
        const body = (await res.json()) as { code: string; error: string };
        expect(body.code).toBe('BAD_REQUEST');
        expect(body.error).toMatch(/unknown query parameter\(s\) '[^']+'.*GET \/events takes channel, after, last_event_id/);
      }
      // The parameters it takes still work.
      const ok = await fetch(`${surface.url}/coord/events?channel=default&after=0`, { headers: { accept: 'text/event-stream' } });
      expect(ok.status).toBe(200);
      await ok.body?.cancel();
    });
  });
}
