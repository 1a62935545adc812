import { get } from 'node:http';
import { join } from 'node:path';
import type { Bench, BenchReport } from '../bench.js';
import { BIN, NODE, ROOT } from '../lib/paths.js';
import { freePort } from '../lib/ports.js';
import { fmt, median } from '../lib/stats.js';
import type { Table } from '../lib/table.js';

const POLL_MS = 5;
const LIMIT_MS = 60_000;

interface Times {
  listening: number;
  health200: number;
  healthOk: number;
  firstTool: number;
  allTools: number;
  stop: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One GET on a fresh connection (no pool: a refused connect during start-up must not hold up the next probe). */
function probe(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('probe timed out')));
  });
}

/** Polls `probe` every few ms until it returns true; resolves with the ms since `t0`. */
async function until(t0: number, probe: () => Promise<boolean>): Promise<number> {
  while (performance.now() - t0 < LIMIT_MS) {
    try {
      if (await probe()) return performance.now() - t0;
    } catch {
      // not listening yet
    }
    await sleep(POLL_MS);
  }
  throw new Error(`not reached within ${LIMIT_MS} ms`);
}

/**
 * `stonegate serve` with the shipped ./stonegate.toml (demo, filesystem,
 * memory, and whatever built-in backends it enables; data_dir in a temp
 * folder) from spawn to: the listening log line, the first 200 on /health,
 * /health `ok` (every backend running), GET /tools non-empty, and every
 * backend's tools listed. Then SIGTERM to exit.
 */
export const startupBench: Bench = {
  name: 'startup',
  description: 'stonegate serve with the shipped config: to /health 200, to the first tool listed',
  timeoutMs: 5 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const runs = ctx.options.quick ? 1 : 3;
    const all: Times[] = [];
    let backends = 0;
    for (let i = 0; i < runs; i += 1) {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const t0 = performance.now();
      const proc = ctx.processes.spawn(
        'stonegate',
        NODE,
        [BIN, 'serve', '-c', join(ROOT, 'stonegate.toml'), '--port', String(port), '--data-dir', join(ctx.tmp, `data-${i}`)],
        { cwd: ROOT },
      );
      let listening = Number.NaN;
      proc.onLine((line) => {
        if (Number.isNaN(listening) && line.includes('stonegate listening')) listening = performance.now() - t0;
      });
      const health = async (): Promise<{ status: number; body: { status?: string; backends_total?: number } }> => {
        const r = await probe(`${base}/health`);
        return { status: r.status, body: JSON.parse(r.text) as { status?: string; backends_total?: number } };
      };
      const tools = async (): Promise<{ total?: number; tools?: { server: string }[] }> =>
        JSON.parse((await probe(`${base}/tools`)).text) as { total?: number };
      // Every enabled backend of the shipped config, as /health counts them (built-in ones included).
      let expected = Number.POSITIVE_INFINITY;
      try {
        const [health200, healthOk, firstTool, allTools] = await Promise.all([
          until(t0, async () => (await health()).status === 200),
          until(t0, async () => {
            const { body } = await health();
            if (typeof body.backends_total === 'number') expected = body.backends_total;
            return body.status === 'ok';
          }),
          until(t0, async () => ((await tools()).total ?? 0) > 0),
          until(t0, async () => new Set((await tools()).tools?.map((t) => t.server)).size >= expected),
        ]);
        backends = expected;
        const s0 = performance.now();
        await proc.stop(10_000);
        all.push({ listening, health200, healthOk, firstTool, allTools, stop: performance.now() - s0 });
        ctx.log(`startup: run ${i + 1}: health 200 at ${fmt(health200, 0)} ms, first tool at ${fmt(firstTool, 0)} ms`);
      } finally {
        await proc.stop();
      }
    }
    const m = (key: keyof Times): string => fmt(median(all.map((t) => t[key])), 0);
    const range = (key: keyof Times): string => `${fmt(Math.min(...all.map((t) => t[key])), 0)}–${fmt(Math.max(...all.map((t) => t[key])), 0)}`;
    const table: Table = {
      title: `Start-up of \`stonegate serve\` with the shipped stonegate.toml (${backends} backends), median of ${runs}`,
      columns: ['from spawn to', 'median ms', 'range ms'],
      rows: [
        ['`stonegate listening` logged', m('listening'), range('listening')],
        ['first 200 on GET /health', m('health200'), range('health200')],
        ['GET /tools non-empty (first tool listed)', m('firstTool'), range('firstTool')],
        ['GET /tools lists every backend', m('allTools'), range('allTools')],
        ['/health status `ok` (every backend running)', m('healthOk'), range('healthOk')],
        ['SIGTERM to exit (after the above)', m('stop'), range('stop')],
      ],
    };
    return {
      tables: [table],
      notes: [
        `Four pollers run from the spawn on, each every ${POLL_MS} ms over loopback with a fresh connection per probe (node:http, no pool); the port is chosen up front, the data dir is a fresh temp folder each run.`,
      ],
      targets: [],
    };
  },
};
