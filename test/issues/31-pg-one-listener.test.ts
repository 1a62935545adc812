import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { DEMO, eventually, q, type RunningGateway, requestOk, startGateway, stopAll } from '../helpers/harness.js';
import { describePg, listenerPids, useTestDatabase } from '../helpers/pg.js';

afterAll(stopAll);

/*
 * [pg-speed] #31: PostgreSQL wakes every listening connection of a database
 * for each NOTIFY, so a gateway LISTENs on one connection for all its
 * channels (coordination, async dispatch, runtime backends and fingerprints:
 * kit/pg-listen-hub.ts), where it held three.
 */
describePg('[pg-speed] #31 one listening connection per gateway', () => {
  const database = useTestDatabase('pglisten');
  const gatewayToml = (url: string): string => `[store]\nurl = ${q(url)}\npool_size = 4\n\n[coordination]\npoll_timeout_max = 30\n`;

  it('holds one LISTEN connection per gateway for every channel, reopens it when dropped, and wakes across gateways through it', async () => {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const gateways: RunningGateway[] = [];
    try {
      const listeners = (): Promise<number[]> => listenerPids(admin);
      const a = await startGateway(gatewayToml(database.url));
      gateways.push(a);
      expect(await listeners()).toHaveLength(1);
      const b = await startGateway(gatewayToml(database.url));
      gateways.push(b);
      expect(await listeners()).toHaveLength(2);

      // The server drops both: each gateway reopens its one connection and LISTENs on every channel again.
      const before = await listeners();
      await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before]);
      await eventually(async () => {
        const now = await listeners();
        return now.length === 2 && now.every((pid) => !before.includes(pid));
      }, 30_000);

      // Coordination: a poll on A gets B's message.
      await requestOk(a, 'POST', '/coord/agent/register', { agent_id: 'one-a', role: 'w' });
      await requestOk(b, 'POST', '/coord/agent/register', { agent_id: 'one-b', role: 'w' });
      const polling = requestOk(a, 'GET', '/coord/msg/poll?agent_id=one-a&timeout=20');
      await requestOk(b, 'POST', '/coord/msg/send', { from: 'one-b', to: 'one-a', content: 'across' });
      expect(((await polling).body.messages as { content: string }[]).map((m) => m.content)).toEqual(['across']);
      // Runtime backends (the backends channel on the same connection): added on B, A serves it.
      expect((await b.request('POST', '/server/add', { name: 'one-demo', command: 'node', args: [DEMO] })).status).toBe(200);
      await eventually(async () => {
        const answer = await a.request('POST', '/call', { server: 'one-demo', tool: 'echo', arguments: { text: 'via a' } });
        return answer.status === 200;
      }, 30_000);
      expect(await listeners()).toHaveLength(2);
    } finally {
      await admin.end();
      await Promise.all(gateways.map((gw) => gw.stop()));
    }
  });
});
