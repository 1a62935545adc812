import { afterAll, expect, it } from 'vitest';
import { findPgBinaries, startPgCluster } from '../../tools/pg-cluster.js';
import { eventually, q, startGateway, stopAll } from '../helpers/harness.js';
import { describePg } from '../helpers/pg.js';

afterAll(stopAll);

/*
 * [pg-speed] #31: GET /health is `down` (503) when the gateway database is
 * not usable (src/views/health-report.ts). With [store] url that database
 * is PostgreSQL: async calls, runtime backends, tool approvals and the audit
 * log live there beside coordination, so PostgreSQL not answering is down,
 * not degraded (src/store/store-monitor.ts).
 */
describePg('[pg-speed] #31 /health while PostgreSQL is down', () => {
  // [pg-speed] Without [coordination] the gateway's own tables are still in [store] url: /health asks it itself.
  it.each([
    ['on', ''],
    ['off', 'enabled = false\n'],
  ])(
    'coordination %s: answers down with 503 and the store named while PostgreSQL is stopped, /livez still 200, and ok again once it is back',
    {
      timeout: 180_000,
    },
    async (_, coordination) => {
      const bin = findPgBinaries();
      expect(bin, 'PostgreSQL server binaries').toBeDefined();
      // A server of its own, to stop: the shared one serves the other test files.
      const cluster = await startPgCluster(bin as string);
      try {
        const gw = await startGateway(`[store]\nurl = ${q(cluster.url)}\npool_size = 2\n\n[coordination]\npoll_timeout_max = 5\n${coordination}`);
        await eventually(async () => (await gw.request('GET', '/health')).body.status === 'ok', 60_000);
        cluster.halt();
        const down = await eventually(async () => {
          const health = await gw.request('GET', '/health');
          const store = (health.body.checks as { store?: { status: string; problems: string[] } }).store;
          return store?.problems.some((p) => p.includes('PostgreSQL')) ? health : undefined;
        }, 60_000);
        expect(down.status).toBe(503);
        expect(down.body.status).toBe('down');
        expect((down.body.checks as { store: { status: string } }).store.status).toBe('down');
        expect((await gw.request('GET', '/livez')).status).toBe(200);
        cluster.start();
        await eventually(async () => {
          const health = await gw.request('GET', '/health');
          return health.status === 200 && health.body.status === 'ok';
        }, 60_000);
        await gw.stop();
      } finally {
        cluster.stop();
      }
    },
  );
});
