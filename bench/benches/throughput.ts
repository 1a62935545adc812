import { readFileSync } from 'node:fs';
import type { Bench, BenchContext, BenchReport, TargetCheck } from '../bench.js';
import { concurrent, type LoadResult } from '../lib/load.js';
import { NODE } from '../lib/paths.js';
import { type RunningPeer, startMcpProxy, startSupergateway } from '../lib/peers.js';
import { cpuTimeMs, descendants } from '../lib/processes.js';
import { fmt, median, ratio } from '../lib/stats.js';
import { type RunningStonegate, startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';
import { closeAll, directStdioTarget, modernTarget, restHttpTarget, restTarget, sseTarget, streamableTarget, type Target } from '../lib/targets.js';

interface Measured {
  target: string;
  /** How the target maps sessions to backend processes, as counted during the run. */
  backends: string;
  concurrency: number;
  runs: LoadResult[];
  /** CPU per call, µs: the gateway/proxy process, its backend processes, and the bench client (this process). */
  cpu: { proxy: number; backend: number; client: number };
  error?: string;
}

/** Demo backend processes under `root` (node processes running the demo server; a shell wrapper is not counted). */
function demoPidsUnder(root: number): number[] {
  const pids: number[] = [];
  for (const pid of descendants(root)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      const exe = argv[0] ?? '';
      if ((exe === NODE || exe.endsWith('/node') || exe === 'node') && argv.some((a) => a.endsWith('backends/demo/server.js'))) pids.push(pid);
    } catch {
      // gone
    }
  }
  return pids;
}

const demoProcessesUnder = (root: number): number => demoPidsUnder(root).length;

function cpuOf(pids: readonly number[]): number {
  let ms = 0;
  for (const pid of pids) {
    try {
      ms += cpuTimeMs(pid);
    } catch {
      // gone
    }
  }
  return ms;
}

function clientCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Many clients at once: each of N workers keeps one call in flight until
 * the fixed total is reached. Each MCP worker is its own session; REST
 * workers are concurrent fetches; direct stdio is N requests multiplexed
 * over one stdio client. stonegate runs with [pool] max 1 and 2.
 */
export const throughputBench: Bench = {
  name: 'throughput',
  description:
    '16 and 64 concurrent clients, fixed call count: direct stdio, stonegate (pool.max 1 and 2; 2025 sessions and 2026-07-28 stateless), supergateway, mcp-proxy',
  timeoutMs: 30 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const total = ctx.options.quick ? 800 : 4_000;
    const levels = ctx.options.quick ? [16] : [16, 64];
    const reps = ctx.options.quick ? 1 : 3;
    const results: Measured[] = [];

    /** Runs one target at every concurrency level: open N callers, warm up, `reps` timed runs, close. */
    const measure = async (target: Target, backends: (n: number) => string, proxyPid?: number): Promise<void> => {
      for (const n of levels) {
        const row: Measured = {
          target: target.name,
          backends: '',
          concurrency: n,
          runs: [],
          cpu: { proxy: Number.NaN, backend: Number.NaN, client: Number.NaN },
        };
        results.push(row);
        let callers: Awaited<ReturnType<Target['open']>> = [];
        try {
          callers = await target.open(n);
          await concurrent(callers, Math.max(n * 10, 400), ctx.signal);
          // Direct stdio's backend is a child of this process; every other target's backends are under its server.
          const backendPids = demoPidsUnder(proxyPid ?? process.pid);
          const proxy0 = proxyPid === undefined ? 0 : cpuTimeMs(proxyPid);
          const backend0 = cpuOf(backendPids);
          const client0 = clientCpuMs();
          for (let rep = 0; rep < reps; rep += 1) row.runs.push(await concurrent(callers, total, ctx.signal));
          const perCall = (ms: number): number => (ms * 1000) / (reps * total);
          row.cpu = {
            proxy: proxyPid === undefined ? Number.NaN : perCall(cpuTimeMs(proxyPid) - proxy0),
            backend: perCall(cpuOf(backendPids) - backend0),
            client: perCall(clientCpuMs() - client0),
          };
          row.backends = backends(n);
          ctx.log(`throughput: ${target.name} ×${n}: ${fmt(median(row.runs.map((r) => r.callsPerSec)), 0)} calls/s`);
        } catch (err) {
          row.error = (err as Error).message;
          ctx.log(`throughput: ${target.name} ×${n} failed: ${row.error}`);
        } finally {
          await closeAll(callers);
        }
      }
    };

    await measure(directStdioTarget(), () => '1 (shared, multiplexed)');
    for (const poolMax of [1, 2]) {
      const gateway: RunningStonegate = await startStonegate(ctx, { poolMax });
      try {
        await waitHealthy(gateway.url, 30_000);
        const procs = (): string => `${demoProcessesUnder(gateway.pid)} (pool.max ${poolMax})`;
        await measure(restTarget(`stonegate REST, pool ${poolMax}`, gateway.url), procs, gateway.pid);
        if (poolMax === 1) await measure(restHttpTarget('stonegate REST (node:http client), pool 1', gateway.url), procs, gateway.pid);
        await measure(streamableTarget(`stonegate /mcp, pool ${poolMax}`, `${gateway.url}/mcp`, ['demo__echo']), procs, gateway.pid);
        await measure(streamableTarget(`stonegate /mcp/demo, pool ${poolMax}`, `${gateway.url}/mcp/demo`), procs, gateway.pid);
        await measure(modernTarget(`stonegate /mcp (2026-07-28), pool ${poolMax}`, `${gateway.url}/mcp`, ['demo__echo']), procs, gateway.pid);
        await measure(sseTarget(`stonegate SSE, pool ${poolMax}`, `${gateway.url}/sse`, ['demo__echo']), procs, gateway.pid);
      } finally {
        await gateway.stop();
      }
    }
    const peer = async (start: (c: BenchContext) => Promise<RunningPeer>, run: (p: RunningPeer) => Promise<void>): Promise<void> => {
      const p = await start(ctx);
      try {
        await run(p);
      } finally {
        await p.stop();
      }
    };
    await peer(startSupergateway, (p) =>
      measure(streamableTarget('supergateway', `${p.url}/mcp`), () => `${demoProcessesUnder(p.process.pid)} (one per session)`, p.process.pid),
    );
    await peer(startMcpProxy, async (p) => {
      const procs = (): string => `${demoProcessesUnder(p.process.pid)} (shared)`;
      await measure(streamableTarget('mcp-proxy /mcp', `${p.url}/mcp`), procs, p.process.pid);
      await measure(sseTarget('mcp-proxy /sse', `${p.url}/sse`), procs, p.process.pid);
    });

    const cps = (m: Measured | undefined): number => (m === undefined || m.runs.length === 0 ? Number.NaN : median(m.runs.map((r) => r.callsPerSec)));
    const p99 = (m: Measured | undefined): number => (m === undefined || m.runs.length === 0 ? Number.NaN : median(m.runs.map((r) => r.p99)));
    const find = (target: string, n: number): Measured | undefined => results.find((r) => r.target === target && r.concurrency === n);

    const tables: Table[] = levels.map((n) => ({
      title: `Throughput at ${n} concurrent clients: ${total} calls of demo echo, median of ${reps} runs`,
      columns: ['target', 'backend processes', 'calls/s', 'p50 ms', 'p99 ms', 'vs direct stdio', 'CPU µs/call: client', 'proxy', 'backend', 'total'],
      leftColumns: [0, 1],
      rows: results
        .filter((r) => r.concurrency === n)
        .map((r) =>
          r.runs.length === 0
            ? [r.target, r.backends, 'failed', (r.error ?? '').slice(0, 80), '', '', '', '', '', '']
            : [
                r.target,
                r.backends,
                fmt(cps(r), 0),
                fmt(median(r.runs.map((x) => x.p50))),
                fmt(p99(r)),
                ratio(cps(r) / cps(find('direct stdio', n))),
                fmt(r.cpu.client, 0),
                fmt(r.cpu.proxy, 0),
                fmt(r.cpu.backend, 0),
                fmt(r.cpu.client + (Number.isNaN(r.cpu.proxy) ? 0 : r.cpu.proxy) + r.cpu.backend, 0),
              ],
        ),
    }));

    const peers = ['supergateway', 'mcp-proxy /mcp', 'mcp-proxy /sse'];
    const checks: TargetCheck[] = [];
    const bestPeer = (n: number): { name: string; cps: number } =>
      peers.map((name) => ({ name, cps: cps(find(name, n)) })).reduce((a, b) => (Number.isFinite(b.cps) && (!Number.isFinite(a.cps) || b.cps > a.cps) ? b : a));
    const best16 = bestPeer(16);
    for (const poolMax of [1, 2]) {
      const mine = cps(find(`stonegate /mcp, pool ${poolMax}`, 16));
      const r = mine / best16.cps;
      checks.push({
        goal: `16-session throughput ≥ 3× best peer (stonegate /mcp, pool.max ${poolMax})`,
        measured: `${fmt(mine, 0)} vs ${best16.name} ${fmt(best16.cps, 0)} calls/s = ${ratio(r)}`,
        pass: r >= 3,
        margin:
          r >= 3
            ? `passes by ${fmt(mine - 3 * best16.cps, 0)} calls/s`
            : `misses: needs ${fmt(3 * best16.cps, 0)} calls/s, ${fmt(3 * best16.cps - mine, 0)} short (${((1 - r / 3) * 100).toFixed(0)} %)`,
      });
    }
    for (const n of levels) {
      const rest = cps(find('stonegate REST, pool 1', n));
      const direct = cps(find('direct stdio', n));
      const viaHttp = cps(find('stonegate REST (node:http client), pool 1', n));
      const r = rest / direct;
      checks.push({
        goal: `REST throughput ≥ 0.8× direct stdio at concurrency ${n} (pool.max 1: one backend process each)`,
        measured: `${fmt(rest, 0)} vs ${fmt(direct, 0)} calls/s = ${ratio(r)} (node:http client: ${ratio(viaHttp / direct)})`,
        pass: r >= 0.8,
        margin:
          r >= 0.8
            ? `passes by ${fmt(rest - 0.8 * direct, 0)} calls/s`
            : `misses: needs ${fmt(0.8 * direct, 0)} calls/s, ${fmt(0.8 * direct - rest, 0)} short (${((1 - r / 0.8) * 100).toFixed(0)} %)`,
      });
    }
    return {
      tables,
      notes: [
        `Each MCP client is its own session (SDK Client), except the 2026-07-28 rows: those clients hold no session (each call is one stateless POST; they share one server/discover answer as their prior); REST clients are concurrent \`fetch\` calls on keep-alive connections; direct stdio multiplexes N requests over one stdio client. ${total} calls per run after a warm-up.`,
        'Backend processes were counted under each server process during the run: supergateway (stateful) spawns one demo process per session; mcp-proxy starts one and shares it; stonegate runs [pool] max processes and multiplexes up to max_concurrency (64) calls on each.',
        'The bench client, the gateway and the backend(s) all share the same 2 CPUs. The CPU columns (user + system time per call, from /proc and process.cpuUsage) show where that budget goes: with 2 cores, calls/s can be at most about 2,000,000 ÷ total µs/call, and less when one single-threaded process is the bottleneck.',
      ],
      targets: checks,
    };
  },
};
