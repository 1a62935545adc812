import { execFileSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { chromium } from 'playwright-core';
import { CallHistory, HISTORY_POINTS, STEP_SECONDS } from '../../src/router/call-history.js';
import type { Bench, BenchReport } from '../bench.js';
import { fmt, median } from '../lib/stats.js';
import { type DemoBackend, startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';

const BACKENDS = 10;

/** The calls-over-time ring in process: ns per recorded call, and the memory of `backends` backends with a call in every step of an hour. */
function ringCost(backends: number, calls: number): { ns: number; heapMb: number } {
  const history = new CallHistory();
  const record = { server: 'demo', status: 'success' as const, duration_ms: 1.3 };
  for (let i = 0; i < calls / 5; i += 1) history.record(record); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i += 1) history.record(record);
  const ns = Number(process.hrtime.bigint() - t0) / calls;
  // A collection before and after, so that the difference is what the ring holds.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage();
  let now = 0;
  const full = new CallHistory(() => now);
  for (let step = 0; step < HISTORY_POINTS; step += 1) {
    now = step * STEP_SECONDS * 1000;
    for (let b = 0; b < backends; b += 1) full.record({ server: `b${b}`, status: 'success', duration_ms: 2 });
  }
  gc();
  const after = process.memoryUsage();
  const heapMb = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / 1024 / 1024;
  if (Object.keys(full.view(60).backends).length !== backends) throw new Error('dashboard bench: the ring lost a backend');
  return { ns, heapMb };
}

/** What one page load measured, in ms from the navigation's start (and bytes). */
interface Load {
  fcp: number;
  /** The last of the page's own files received. */
  assets: number;
  backends: number;
  charts: number;
  bytes: number;
  files: number;
}

/**
 * Issue #33: the dashboard's weight and time to first render, in Debian's
 * headless chromium (never a downloaded browser) on this machine, against
 * a gateway with 10 stdio demo backends and no auth. Each load is a fresh
 * browser context (no cache): the bytes of the /ui/ files it fetched, the
 * first contentful paint, and when the backends table and the charts were
 * first drawn from the gateway's data.
 */
export const dashboardBench: Bench = {
  name: 'dashboard',
  description: 'dashboard page weight and time to first render in headless chromium (10 backends)',
  timeoutMs: 3 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const executablePath = execFileSync('sh', ['-c', 'command -v chromium || true'], { encoding: 'utf8' }).trim();
    if (executablePath === '') throw new Error('dashboard bench: chromium is not installed (apt-get install -y chromium)');
    const runs = ctx.options.quick ? 3 : 15;
    const backends: DemoBackend[] = Array.from({ length: BACKENDS }, (_, i) => ({ name: `b${i}` }));
    const gw = await startStonegate(ctx, { backends, listenTimeoutMs: 60_000 }, 'dashboard');
    const browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'] });
    try {
      await waitHealthy(gw.url, 60_000);
      // Some calls, so that the charts have lines to draw.
      await Promise.all(
        backends.map((b) =>
          fetch(`${gw.url}/call`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ server: b.name, tool: 'echo', arguments: { text: 'x' } }),
          }),
        ),
      );
      const loads: Load[] = [];
      for (let i = 0; i < runs; i += 1) {
        const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
        const page = await context.newPage();
        let bytes = 0;
        let files = 0;
        page.on('response', (response) => {
          if (!new URL(response.url()).pathname.startsWith('/ui/')) return;
          files += 1;
          void response.body().then((body) => (bytes += body.length));
        });
        await page.goto(`${gw.url}/ui/`);
        await page.locator(`#backends tbody tr:nth-child(${BACKENDS})`).waitFor();
        const backendsAt = (await page.evaluate('performance.now()')) as number;
        await page.locator('#charts [data-chart="calls"] path').first().waitFor({ state: 'attached' });
        const chartsAt = (await page.evaluate('performance.now()')) as number;
        const fcp = (await page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1")) as number;
        const assets = (await page.evaluate(
          "Math.max(...performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.startsWith('/ui/')).map((e) => e.responseEnd))",
        )) as number;
        await context.close();
        loads.push({ fcp, assets, backends: backendsAt, charts: chartsAt, bytes, files });
      }
      const row = (label: string, values: number[]): string[] => [
        label,
        fmt(median(values), 1),
        `${fmt(Math.min(...values), 1)}–${fmt(Math.max(...values), 1)}`,
      ];
      const weight = loads[0] as Load;
      ctx.log(`dashboard: ${weight.files} files, ${weight.bytes} bytes; first paint median ${fmt(median(loads.map((l) => l.fcp)), 1)} ms`);
      const table: Table = {
        title: `The dashboard in headless chromium, ${BACKENDS} backends, a fresh context per load (median of ${runs}; ms from the navigation's start)`,
        columns: ['moment', 'median ms', 'range ms'],
        rows: [
          row(
            'every file of the page received',
            loads.map((l) => l.assets),
          ),
          row(
            'first contentful paint',
            loads.map((l) => l.fcp),
          ),
          row(
            'backends table drawn (GET /server/list)',
            loads.map((l) => l.backends),
          ),
          row(
            'charts drawn (GET /stats/history)',
            loads.map((l) => l.charts),
          ),
        ],
      };
      const bytesTable: Table = {
        title: 'Page weight: the files of /ui/ one load fetches (uncompressed; the gateway sends them as they are)',
        columns: ['files', 'bytes'],
        rows: [[String(weight.files), String(weight.bytes)]],
      };
      const ring = ringCost(100, ctx.options.quick ? 100_000 : 1_000_000);
      const ringTable: Table = {
        title: 'The calls-over-time ring (GET /stats/history), in process',
        columns: ['measure', 'value'],
        rows: [
          ['ns per recorded call', fmt(ring.ns, 0)],
          ['memory, 100 backends with calls in every 10 s step of an hour (heap + array buffers, after a GC)', `${fmt(ring.heapMb, 2)} MB`],
        ],
      };
      return {
        tables: [bytesTable, table, ringTable],
        notes: [
          'One static bundle from src/ui (HTML, two style sheets, ES modules), no framework, no library, nothing from another origin; charts are inline SVG drawn by charts.js.',
          'The times include the page asking the gateway for /health, /server/list, /call, /config, /tools and /stats/history on loopback.',
        ],
        targets: [],
      };
    } finally {
      await browser.close();
    }
  },
};
