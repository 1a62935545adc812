import type { Bench, BenchReport, TargetCheck } from '../bench.js';
import { startCannedMcp } from '../lib/canned-mcp.js';
import { type LoadResult, sequential } from '../lib/load.js';
import { startMcpProxy, startSupergateway } from '../lib/peers.js';
import { cpuTimeMs } from '../lib/processes.js';
import { fmt, median, ratio } from '../lib/stats.js';
import { startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';
import {
  type Caller,
  closeAll,
  directStdioTarget,
  modernTarget,
  oneShotTarget,
  restHttpTarget,
  restTarget,
  sseTarget,
  streamableTarget,
  type Target,
} from '../lib/targets.js';

const STONEGATE = [
  'stonegate REST',
  'stonegate /mcp',
  'stonegate /mcp/demo',
  'stonegate /mcp (2026-07-28)',
  'stonegate /mcp/demo (2026-07-28)',
  'stonegate SSE',
] as const;
const ONE_SHOT_SESSION = 'stonegate /mcp, new client per call';
const ONE_SHOT_MODERN = 'stonegate /mcp (2026-07-28), new client per call';
const PEERS = ['supergateway', 'mcp-proxy /mcp', 'mcp-proxy /sse'] as const;
/** [speed] The SDK client against a server that does no work (bench/lib/canned-mcp.ts): what the client and one HTTP round trip cost. */
const CLIENT_FLOOR = 'SDK client floor: canned node:http MCP';
/** [speed] With STONEGATE_BENCH_BASE_BIN: the base build's rows, interleaved with this build's (an A/B in one run). */
const BASE_ROWS = ['stonegate /mcp', 'stonegate /mcp (2026-07-28)', 'stonegate REST (node:http client)'] as const;
const baseName = (name: string): string => `${name} [base]`;

interface Row {
  target: Target;
  caller?: Caller;
  runs: LoadResult[];
  /** The gateway/proxy process whose CPU time is charged to this target's calls. */
  pid?: number;
  cpuMs: number;
  /** [speed] This process's CPU (the client's, every thread) over the timed runs, µs. */
  clientUs: number;
  error?: string;
}

/**
 * Sequential calls: one client, one call in flight, so the numbers are the
 * per-call overhead of each hop. Repetitions are interleaved across targets
 * (rep 1 of every target, then rep 2, …) so that a burst of other work on a
 * shared machine lands on every target rather than on one.
 */
export const latencyBench: Bench = {
  name: 'latency',
  description:
    'sequential tools/call of demo echo: direct stdio, stonegate (REST, /mcp, /mcp/demo with 2025 sessions and 2026-07-28 stateless, SSE), supergateway, mcp-proxy',
  timeoutMs: 10 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const calls = ctx.options.quick ? 100 : 500;
    const warmup = ctx.options.quick ? 50 : 300;
    const reps = 3;
    const baseBin = process.env.STONEGATE_BENCH_BASE_BIN;
    const [gateway, supergateway, mcpProxy, canned, base] = await Promise.all([
      startStonegate(ctx, { poolMax: 1 }),
      startSupergateway(ctx),
      startMcpProxy(ctx),
      startCannedMcp(ctx),
      baseBin === undefined ? undefined : startStonegate(ctx, { poolMax: 1, bin: baseBin }, 'stonegate-base'),
    ]);
    await waitHealthy(gateway.url, 30_000);
    if (base !== undefined) await waitHealthy(base.url, 30_000);
    const targets: Target[] = [
      directStdioTarget(),
      streamableTarget(CLIENT_FLOOR, canned.url),
      restTarget('stonegate REST', gateway.url),
      restHttpTarget('stonegate REST (node:http client)', gateway.url),
      streamableTarget('stonegate /mcp', `${gateway.url}/mcp`, ['demo__echo']),
      streamableTarget('stonegate /mcp/demo', `${gateway.url}/mcp/demo`),
      modernTarget('stonegate /mcp (2026-07-28)', `${gateway.url}/mcp`, ['demo__echo']),
      modernTarget('stonegate /mcp/demo (2026-07-28)', `${gateway.url}/mcp/demo`),
      sseTarget('stonegate SSE', `${gateway.url}/sse`, ['demo__echo']),
      oneShotTarget(ONE_SHOT_SESSION, `${gateway.url}/mcp`, 'demo__echo', 'session'),
      oneShotTarget(ONE_SHOT_MODERN, `${gateway.url}/mcp`, 'demo__echo', 'modern'),
      streamableTarget('supergateway', `${supergateway.url}/mcp`),
      streamableTarget('mcp-proxy /mcp', `${mcpProxy.url}/mcp`),
      sseTarget('mcp-proxy /sse', `${mcpProxy.url}/sse`),
      ...(base === undefined
        ? []
        : [
            streamableTarget(baseName('stonegate /mcp'), `${base.url}/mcp`, ['demo__echo']),
            modernTarget(baseName('stonegate /mcp (2026-07-28)'), `${base.url}/mcp`, ['demo__echo']),
            restHttpTarget(baseName('stonegate REST (node:http client)'), base.url),
          ]),
    ];
    const pids: Record<string, number> = {
      supergateway: supergateway.process.pid,
      'mcp-proxy /mcp': mcpProxy.process.pid,
      'mcp-proxy /sse': mcpProxy.process.pid,
      [CLIENT_FLOOR]: canned.pid,
    };
    if (base !== undefined) for (const name of BASE_ROWS) pids[baseName(name)] = base.pid;
    for (const s of [...STONEGATE, 'stonegate REST (node:http client)', ONE_SHOT_SESSION, ONE_SHOT_MODERN]) pids[s] = gateway.pid;
    const rows: Row[] = targets.map((target) => ({ target, runs: [], pid: pids[target.name], cpuMs: 0, clientUs: 0 }));
    try {
      for (const row of rows) {
        try {
          row.caller = (await row.target.open(1))[0];
          await sequential(row.caller as Caller, warmup, ctx.signal);
          ctx.log(`latency: ${row.target.name} warmed up`);
        } catch (err) {
          row.error = (err as Error).message;
          ctx.log(`latency: ${row.target.name} failed: ${row.error}`);
        }
      }
      for (let rep = 0; rep < reps; rep += 1) {
        for (const row of rows) {
          if (row.caller === undefined || row.error !== undefined) continue;
          try {
            const cpu0 = row.pid === undefined ? 0 : cpuTimeMs(row.pid);
            const client0 = process.cpuUsage();
            row.runs.push(await sequential(row.caller, calls, ctx.signal));
            const client = process.cpuUsage(client0);
            row.clientUs += client.user + client.system;
            if (row.pid !== undefined) row.cpuMs += cpuTimeMs(row.pid) - cpu0;
          } catch (err) {
            row.error = (err as Error).message;
          }
        }
        ctx.log(`latency: repetition ${rep + 1}/${reps} done`);
      }
    } finally {
      await closeAll(rows.flatMap((r) => (r.caller === undefined ? [] : [r.caller])));
    }

    const med = (row: Row | undefined, key: 'p50' | 'p99' | 'callsPerSec'): number =>
      row === undefined || row.runs.length === 0 ? Number.NaN : median(row.runs.map((r) => r[key]));
    const byName = new Map(rows.map((r) => [r.target.name, r]));
    const direct = byName.get('direct stdio');
    const main: Table = {
      title: `Latency: ${calls} sequential calls of demo echo, median of ${reps} repetitions (after ${warmup} warm-up calls)`,
      columns: ['target', 'p50 ms', 'p99 ms', 'calls/s', 'p50 over direct ms', 'proxy CPU µs/call', 'client CPU µs/call'],
      rows: rows.map((row) => {
        if (row.runs.length === 0) return [row.target.name, 'failed', row.error ?? '', '', '', '', ''];
        const cpu = row.pid === undefined ? Number.NaN : (row.cpuMs * 1000) / (row.runs.length * calls);
        return [
          row.target.name,
          fmt(med(row, 'p50')),
          fmt(med(row, 'p99')),
          fmt(med(row, 'callsPerSec'), 0),
          fmt(med(row, 'p50') - med(direct, 'p50')),
          fmt(cpu, 0),
          fmt(row.clientUs / (row.runs.length * calls), 0),
        ];
      }),
    };
    const p50Ratios: Table = {
      title: 'Latency ratios, stonegate ÷ peer: p50 (lower is better) / calls/s (higher is better)',
      columns: ['stonegate surface', ...PEERS],
      rows: STONEGATE.map((s) => [
        s,
        ...PEERS.map(
          (p) =>
            `${ratio(med(byName.get(s), 'p50') / med(byName.get(p), 'p50'))} / ${ratio(med(byName.get(s), 'callsPerSec') / med(byName.get(p), 'callsPerSec'))}`,
        ),
      ]),
    };

    const targetsOut: TargetCheck[] = [];
    const mcpP50 = med(byName.get('stonegate /mcp'), 'p50');
    // [speed] #30's "≤ 0.35 ms over direct stdio" with the SDK client, beside what the client alone costs over direct (a server doing nothing).
    const over = mcpP50 - med(direct, 'p50');
    const floorOver = med(byName.get(CLIENT_FLOOR), 'p50') - med(direct, 'p50');
    targetsOut.push({
      goal: 'sequential /mcp p50 over direct stdio ≤ 0.35 ms (SDK client)',
      measured: `${fmt(over)} ms`,
      pass: over <= 0.35,
      margin: `the SDK client against a server that does no work is already ${fmt(floorOver)} ms over direct stdio; /mcp is ${fmt(mcpP50 - med(byName.get(CLIENT_FLOOR), 'p50'))} ms over that floor`,
    });
    const sgP50 = med(byName.get('supergateway'), 'p50');
    const r = mcpP50 / sgP50;
    targetsOut.push({
      goal: 'sequential /mcp p50 ≤ 0.5× supergateway p50',
      measured: `${fmt(mcpP50)} ms vs ${fmt(sgP50)} ms = ${ratio(r)}`,
      pass: r <= 0.5,
      margin: Number.isFinite(r)
        ? r <= 0.5
          ? `passes with ${fmt((0.5 - r) * sgP50)} ms to spare`
          : `misses: ${fmt(mcpP50 - 0.5 * sgP50)} ms too slow (needs ≤ ${fmt(0.5 * sgP50)} ms)`
        : 'not measured',
    });
    // [speed] #30's peer targets ask each of three runs to meet them: the ratio of every repetition (interleaved, so each
    // repetition is a run of its own for both sides), and mcp-proxy's best transport, whichever is faster in that repetition.
    const repRatios = (peer: (rep: number) => number): string =>
      (byName.get('stonegate /mcp')?.runs ?? []).map((run, rep) => ratio(run.p50 / peer(rep))).join(' / ');
    const repP50 = (name: string, rep: number): number => byName.get(name)?.runs[rep]?.p50 ?? Number.NaN;
    const proxyBest = (rep: number): number => Math.min(repP50('mcp-proxy /mcp', rep), repP50('mcp-proxy /sse', rep));
    const bestProxy = Math.min(med(byName.get('mcp-proxy /mcp'), 'p50'), med(byName.get('mcp-proxy /sse'), 'p50'));
    targetsOut.push({
      goal: "sequential /mcp p50 ≤ 0.75× mcp-proxy's best transport p50",
      measured: `${fmt(mcpP50)} ms vs ${fmt(bestProxy)} ms = ${ratio(mcpP50 / bestProxy)}`,
      pass: mcpP50 / bestProxy <= 0.75,
      margin: `per repetition: ÷ supergateway ${repRatios((rep) => repP50('supergateway', rep))}; ÷ mcp-proxy's best ${repRatios(proxyBest)}`,
    });
    return {
      tables: [main, p50Ratios],
      notes: [
        'Every target runs the same backend command (`node dist/backends/demo/server.js`); each caller is one SDK `Client` (REST: `fetch` with keep-alive, plus one row with a node:http keep-alive client, which costs the client far less CPU). "proxy CPU" is the user + system time of the gateway/proxy process per call (/proc/PID/stat), the overhead figure that other work on the machine disturbs least.',
        'The `(2026-07-28)` rows are clients of the stateless era: no initialize, no session, each call one POST whose `_meta` carries version and capabilities; the client adopts one earlier server/discover answer (`prior`), so no call negotiates. The rows without it are 2025-era sessions on the same URLs. The “new client per call” rows are a client that makes one call and goes (a script, a short-lived agent): in the 2025 era initialize, notifications/initialized, the call and DELETE, four requests and a session built and torn down; in the 2026-07-28 era the call’s one POST.',
        'stonegate runs its default config apart from the backend list (pool.max 1, logging info). supergateway runs with `--logLevel none`; mcp-proxy with its defaults.',
        '"SDK client floor" is the same SDK client against a node:http server in its own process that does no work and answers as stonegate\'s lean /mcp path does (one JSON body with Content-Length; bench/lib/canned-mcp.ts): the client\'s and one HTTP round trip\'s own cost, which every HTTP target pays. "client CPU" is this process\'s CPU per call (every thread: the SDK client, undici, GC).',
        ...(baseBin === undefined ? [] : [`Rows marked [base] are ${baseBin}, started beside this build and measured in the same interleaved repetitions.`]),
      ],
      targets: targetsOut,
    };
  },
};
