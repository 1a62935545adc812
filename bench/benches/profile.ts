import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bench, BenchReport } from '../bench.js';
import { LeanPool } from '../lib/lean-http.js';
import { leanCallers, type Surface } from '../lib/lean-mcp.js';
import { concurrent, sequential } from '../lib/load.js';
import { cpuTimeMs } from '../lib/processes.js';
import { fmt } from '../lib/stats.js';
import { startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';
import { closeAll, modernTarget, restTarget, streamableTarget, type Target } from '../lib/targets.js';
import { type CpuProfile, monotonicUs, summarize, summaryTables, type Window } from '../profile-summary.js';

/** Where the raw .cpuprofile files are kept after the run, for DevTools or `profile-summary`. */
export const PROFILE_DIR = join(tmpdir(), 'stonegate-bench-profiles');

interface Load {
  label: string;
  file: string;
  target: (url: string) => Target;
  concurrency: number;
}

const LOADS: readonly Load[] = [
  { label: 'REST POST /call, 16 concurrent', file: 'rest-c16', target: (url) => restTarget('REST', url), concurrency: 16 },
  { label: '/mcp tools/call, 16 sessions', file: 'mcp-c16', target: (url) => streamableTarget('/mcp', `${url}/mcp`, ['demo__echo']), concurrency: 16 },
  { label: '/mcp tools/call, 1 session, sequential', file: 'mcp-seq', target: (url) => streamableTarget('/mcp', `${url}/mcp`, ['demo__echo']), concurrency: 1 },
  { label: '/mcp tools/call 2026-07-28, 16 clients', file: 'modern-c16', target: (url) => modernTarget('/mcp', `${url}/mcp`, ['demo__echo']), concurrency: 16 },
  { label: '/mcp tools/call 2026-07-28, sequential', file: 'modern-seq', target: (url) => modernTarget('/mcp', `${url}/mcp`, ['demo__echo']), concurrency: 1 },
  // [speed] The floor bench's lean keep-alive client (bench/lib/lean-http.ts): the gateway's profile under the load `floor` measures.
  { label: 'REST POST /call, lean client, 16 concurrent', file: 'rest-lean-c16', target: (url) => leanTarget(url, 'REST'), concurrency: 16 },
  { label: '/mcp 2025 sessions, lean client, 16', file: 'mcp-lean-c16', target: (url) => leanTarget(url, '/mcp 2025 sessions'), concurrency: 16 },
];

/** [speed] The floor bench's callers (one LeanPool) as a Target. */
function leanTarget(url: string, surface: Surface): Target {
  return {
    name: `lean ${surface}`,
    open: async (n) => {
      const pool = new LeanPool(url);
      const opened = await leanCallers(pool, surface, n);
      let closed: Promise<void> | undefined;
      const close = (): Promise<void> => {
        closed ??= opened.close().then(() => pool.close());
        return closed;
      };
      return opened.calls.map((call) => ({ call, close }));
    },
  };
}

/**
 * [otel] With STONEGATE_BENCH_PROFILE_OTEL=<sample ratio>, each gateway traces
 * at that ratio, exporting http/protobuf to an OTLP/HTTP sink in this process
 * that answers at once (as the telemetry bench's): where tracing's cost goes.
 */
async function otlpSink(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * Runs the gateway under `node --cpu-prof` for one load at a time and
 * summarizes where its CPU goes (profile-summary.ts). Also reports the
 * gateway's CPU time per call from /proc, the overhead figure that the
 * other processes on a shared machine disturb least.
 * STONEGATE_BENCH_PROFILE_LOADS=rest-c16,mcp-c16 (the loads' file names) runs only those.
 */
export const profileBench: Bench = {
  name: 'profile',
  description: 'CPU profile of the gateway process (node --cpu-prof) under REST and /mcp load; top self-time functions',
  timeoutMs: 10 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const calls = ctx.options.quick ? 2_000 : 20_000;
    const tables: Table[] = [];
    const cpuRows: string[][] = [];
    mkdirSync(PROFILE_DIR, { recursive: true });
    const only = process.env.STONEGATE_BENCH_PROFILE_LOADS?.split(',');
    const ratio = process.env.STONEGATE_BENCH_PROFILE_OTEL;
    const sink = ratio === undefined ? undefined : await otlpSink();
    const extraToml = sink === undefined ? undefined : `[telemetry]\nenabled = true\notlp_endpoint = "${sink.url}"\nsample_ratio = ${ratio}\n`;
    for (const load of LOADS.filter((l) => only === undefined || only.includes(l.file))) {
      const dir = join(ctx.tmp, `prof-${load.file}`);
      mkdirSync(dir, { recursive: true });
      const gateway = await startStonegate(ctx, { poolMax: 1, cpuProfDir: dir, ...(extraToml === undefined ? {} : { extraToml }) }, `stonegate-${load.file}`);
      const n = load.concurrency === 1 ? Math.floor(calls / 4) : calls;
      const window: Window = { fromUs: 0, toUs: 0 };
      try {
        await waitHealthy(gateway.url, 30_000);
        const callers = await load.target(gateway.url).open(load.concurrency);
        try {
          await concurrent(callers, 500, ctx.signal);
          const cpu0 = cpuTimeMs(gateway.pid);
          window.fromUs = monotonicUs();
          const result =
            load.concurrency === 1 ? await sequential(callers[0] as (typeof callers)[number], n, ctx.signal) : await concurrent(callers, n, ctx.signal);
          window.toUs = monotonicUs();
          const cpu = cpuTimeMs(gateway.pid) - cpu0;
          cpuRows.push([load.label, n.toLocaleString('en-US'), fmt(result.callsPerSec, 0), fmt((cpu * 1000) / n, 0)]);
        } finally {
          await closeAll(callers);
        }
      } finally {
        await gateway.stop();
      }
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (file === undefined) throw new Error(`no .cpuprofile written in ${dir}`);
      copyFileSync(join(dir, file), join(PROFILE_DIR, `${load.file}.cpuprofile`));
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
      tables.push(...summaryTables(summarize(profile, 20, window), `Profile, ${load.label}`, 16));
      ctx.log(`profile: ${load.label} done`);
    }
    if (sink !== undefined) await new Promise<void>((resolve) => sink.server.close(() => resolve()));
    tables.unshift({
      title: 'Gateway CPU per call under the profiler (user + system time of the gateway process, /proc/PID/stat)',
      columns: ['load', 'calls', 'calls/s', 'gateway CPU µs/call'],
      rows: cpuRows,
    });
    return {
      tables,
      notes: [
        `The gateway runs one demo backend (pool.max 1) under \`node --cpu-prof\` (sampling profiler on: numbers are a little slower than elsewhere). Raw profiles: ${PROFILE_DIR}/*.cpuprofile (open in Chrome DevTools, or \`node dist/bench/profile-summary.js FILE\`).`,
        'Only samples taken while the timed load ran are counted (start-up and warm-up are cut out by timestamp). Shares are of the gateway\'s busy (non-idle) samples. "sdk …" rows are the MCP SDK v2 packages (sdk server, sdk client); "(program)" is V8/native work not attributed to a JS function; "(garbage collector)" is GC.',
      ],
      targets: [],
    };
  },
};
