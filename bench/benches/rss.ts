import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bench, BenchContext, BenchReport, TargetCheck } from '../bench.js';
import { LeanPool } from '../lib/lean-http.js';
import { drive, leanCallers } from '../lib/lean-mcp.js';
import { cpuTimeMs, memoryOf } from '../lib/processes.js';
import { fmt } from '../lib/stats.js';
import { type RunningStonegate, startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';

/*
 * RSS under sustained load, measured from outside as an operator sees it: a
 * plain keep-alive client (bench/lib/lean-http.ts) makes CALLS tools/call on
 * 16 connections, and the gateway's RSS (/proc) and live heap (/metrics) are
 * read when idle, every 10,000 calls, and 20 s after the load stopped. One
 * fresh gateway per surface: REST, /mcp with 16 2025-era sessions, /mcp
 * 2026-07-28 (stateless).
 *
 * Each surface runs twice in the same run, [server] heap = "compact" (the
 * default) and "fast" (V8's default sizing), as an A/B;
 * STONEGATE_RSS_HEAP=compact runs one. STONEGATE_RSS_SURFACES=REST,2025
 * picks surfaces. STONEGATE_RSS_NODE_ARGS adds node flags.
 *
 * STONEGATE_RSS_ENV="K=V K2=V2" adds environment to the gateway (an A/B of
 * e.g. MALLOC_ARENA_MAX without a rebuild).
 */

const CLIENTS = 16;
const STEP = 10_000;
const SETTLE_MS = 3_000;
const AFTER_MS = 20_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Heap = 'compact' | 'balanced' | 'fast';

import type { Surface } from '../lib/lean-mcp.js';

const SURFACES: readonly Surface[] = ['REST', '/mcp 2025 sessions', '/mcp 2026-07-28'];

/** A preload for the gateway: on SIGUSR2 it prints process.memoryUsage() as one stdout line (no forced collection). */
const PROBE =
  "process.on('SIGUSR2', () => { if (process.env.RSS_PROBE_GC) globalThis.gc?.(); process.stdout.write('RSS_PROBE ' + JSON.stringify(process.memoryUsage()) + '\\n'); });\n";

interface Usage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** The gateway's own view of its memory, through the probe. */
function usageOf(gateway: RunningStonegate): Promise<Usage> {
  return new Promise((resolve) => {
    gateway.process.onLine((line) => {
      if (line.startsWith('RSS_PROBE ')) resolve(JSON.parse(line.slice(10)) as Usage);
    });
    process.kill(gateway.pid, 'SIGUSR2');
  });
}

const MB = 2 ** 20;
/** "RSS (heap used / heap total, external)" in MB. */
async function cell(gateway: RunningStonegate): Promise<string> {
  const u = await usageOf(gateway);
  return `${fmt(memoryOf(gateway.pid).rssMb, 0)} (${fmt(u.heapUsed / MB, 0)}/${fmt(u.heapTotal / MB, 0)}, ${fmt(u.external / MB, 0)})`;
}

function gatewayEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of (process.env.STONEGATE_RSS_ENV ?? '').split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

async function curve(ctx: BenchContext, surface: Surface, heap: Heap, total: number): Promise<{ row: string[]; idle: number; peak: number; after: number }> {
  const probe = join(ctx.tmp, 'rss-probe.mjs');
  writeFileSync(probe, PROBE);
  const nodeArgs = ['--import', pathToFileURL(probe).href, ...(process.env.STONEGATE_RSS_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [])];
  const gateway = await startStonegate(ctx, { poolMax: 1, heap, env: gatewayEnv(), nodeArgs }, `stonegate-rss-${surface.replace(/\W+/g, '-')}-${heap}`);
  const pool = new LeanPool(gateway.url);
  try {
    await waitHealthy(gateway.url, 30_000);
    const { calls, close } = await leanCallers(pool, surface, CLIENTS);
    await drive(calls, 500, ctx.signal); // warm-up: JIT, pools
    await sleep(SETTLE_MS);
    const idle = memoryOf(gateway.pid).rssMb;
    const cells = [await cell(gateway)];
    let peak = idle;
    const cpu0 = cpuTimeMs(gateway.pid);
    let cpuMs = 0;
    for (let done = 0; done < total; done += STEP) {
      await drive(calls, Math.min(STEP, total - done), ctx.signal);
      cpuMs = cpuTimeMs(gateway.pid) - cpu0;
      const rss = memoryOf(gateway.pid).rssMb;
      peak = Math.max(peak, rss);
      cells.push(await cell(gateway));
    }
    await close();
    pool.close();
    await sleep(AFTER_MS);
    const after = memoryOf(gateway.pid).rssMb;
    cells.push(await cell(gateway));
    ctx.log(`rss: ${surface}, heap ${heap}: ${cells.join(' → ')}`);
    const cpu = fmt((cpuMs * 1000) / total, 0);
    ctx.log(`rss: ${surface}, heap ${heap}: gateway CPU ${cpu} µs/call`);
    return { row: [surface, heap, ...cells, `${fmt(peak / idle, 2)}×`, `${fmt(after / idle, 2)}×`, cpu], idle, peak, after };
  } finally {
    pool.close();
    await gateway.stop();
  }
}

export const rssBench: Bench = {
  name: 'rss',
  description: 'gateway RSS and live heap under 60,000 calls on 16 keep-alive clients (REST, /mcp sessions, /mcp 2026-07-28), and 20 s after',
  timeoutMs: 30 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const total = ctx.options.quick ? 2 * STEP : 6 * STEP;
    const rows: string[][] = [];
    const targets: TargetCheck[] = [];
    const only = process.env.STONEGATE_RSS_SURFACES?.split(',');
    const heaps = (process.env.STONEGATE_RSS_HEAP ?? 'balanced,compact,fast').split(',') as Heap[];
    for (const surface of SURFACES.filter((s) => only === undefined || only.some((o) => s.includes(o))))
      for (const heap of heaps) {
        const r = await curve(ctx, surface, heap, total);
        rows.push(r.row);
        if (heap !== 'balanced') continue; // the default is what the targets are about; `compact` and `fast` are the A/B
        targets.push(
          {
            goal: `${surface}: peak RSS ≤ 1.5× idle`,
            measured: `${fmt(r.peak / r.idle, 2)}×`,
            pass: r.peak <= 1.5 * r.idle,
            margin: `${fmt(r.peak, 0)} MB peak, ${fmt(r.idle, 0)} MB idle`,
          },
          {
            goal: `${surface}: RSS 20 s after ≤ 1.2× idle`,
            measured: `${fmt(r.after / r.idle, 2)}×`,
            pass: r.after <= 1.2 * r.idle,
            margin: `${fmt(r.after, 0)} MB after`,
          },
        );
      }
    const steps = Array.from({ length: total / STEP }, (_, i) => `${(i + 1) * 10}k`);
    const table: Table = {
      title: `Gateway RSS in MB (heap used / heap total, external, in brackets), ${CLIENTS} keep-alive clients, one demo backend`,
      columns: ['surface', '[server] heap', 'idle', ...steps, '20 s after', 'peak / idle', 'after / idle', 'gateway CPU µs/call'],
      rows,
    };
    const env = process.env.STONEGATE_RSS_ENV;
    return {
      tables: [table],
      notes: [
        'RSS of the gateway process alone (/proc/PID/status VmRSS), heap from process.memoryUsage() in the gateway through a preloaded probe (no forced collection). Client: bench/lib/lean-http.ts, one socket per client.',
        ...(env === undefined ? [] : [`Gateway environment: ${env}`]),
      ],
      targets,
    };
  },
};
