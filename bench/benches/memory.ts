import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Bench, BenchContext, BenchReport } from '../bench.js';
import { type HeapSummary, heapGrowth, summarizeHeapSnapshot, takeHeapSnapshot } from '../lib/heap-snapshot.js';
import { concurrent } from '../lib/load.js';
import { NODE, ROOT } from '../lib/paths.js';
import { startMcpProxy, startSupergateway } from '../lib/peers.js';
import { memoryOf } from '../lib/processes.js';
import { fmt } from '../lib/stats.js';
import { type RunningStonegate, startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';
import { type Caller, closeAll, restTarget, streamableTarget } from '../lib/targets.js';

const BACKENDS = 10;
const SETTLE_MS = 3_000;
/** Issue #30's idle target (the gateway process alone, 10 backends). */
const IDLE_TARGET_MB = 85;
const NAMES = Array.from({ length: BACKENDS }, (_, i) => `demo${i}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** V8 heap used and total (MB) from the gateway's own /metrics (prom-client default metrics), when it serves them. */
async function heapOf(url: string): Promise<{ used: number; total: number }> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const metric = (name: string): number => Number(new RegExp(`^\\w*${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN) / 1024 ** 2;
    return { used: metric('nodejs_heap_size_used_bytes'), total: metric('nodejs_heap_size_total_bytes') };
  } catch {
    return { used: Number.NaN, total: Number.NaN };
  }
}

/** The SDK packages any MCP gateway on the official SDK (v2) loads: server and client, whose roots carry their Streamable HTTP transports. */
const SDK_FLOOR = `Promise.all(['@modelcontextprotocol/server', '@modelcontextprotocol/client'].map((m) => import(m))).then(() => setInterval(() => {}, 1000))`;

/**
 * What an idle process weighs elsewhere, measured the same way in the same
 * run: a bare node, node with the SDK's server and client loaded, and the
 * peers with their one backend (their own process only, like stonegate's).
 */
async function references(ctx: BenchContext): Promise<string[][]> {
  const rows: string[][] = [];
  const settle = async (name: string, pid: number, backends: string): Promise<void> => {
    await sleep(SETTLE_MS);
    rows.push([name, backends, fmt(memoryOf(pid).rssMb, 1)]);
  };
  const bare = ctx.processes.spawn('node-bare', NODE, ['-e', 'setInterval(() => {}, 1000)'], { cwd: ROOT });
  await settle('node, nothing loaded', bare.pid, '—');
  await bare.stop();
  const floor = ctx.processes.spawn('node-sdk', NODE, ['--input-type=module', '-e', SDK_FLOOR], { cwd: ROOT });
  await settle('node with the MCP SDK server + client loaded', floor.pid, '—');
  await floor.stop();
  for (const [name, startPeer] of [
    ['supergateway (stateful; backends start per session)', startSupergateway],
    ['mcp-proxy (one shared backend)', startMcpProxy],
  ] as const) {
    const peer = await startPeer(ctx);
    try {
      await settle(name, peer.process.pid, name.startsWith('mcp-proxy') ? '1' : '0 until a session');
    } finally {
      await peer.stop();
    }
  }
  return rows;
}

/**
 * Idle RSS with tracing on ([telemetry] to a local OTLP/HTTP sink that
 * answers 200), measured like the idle row: its own gateway, 10 demo
 * backends, 3 s after every backend is running ([otel] #32: tracing must
 * keep [speed]'s idle target).
 */
async function idleWithTracing(ctx: BenchContext): Promise<number> {
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
    const gateway = await startStonegate(
      ctx,
      { backends: NAMES.map((name) => ({ name })), extraToml: `[telemetry]\nenabled = true\notlp_endpoint = "${url}"\n` },
      'stonegate-idle-tracing',
    );
    try {
      await waitHealthy(gateway.url, 60_000);
      await sleep(SETTLE_MS);
      return memoryOf(gateway.pid).rssMb;
    } finally {
      await gateway.stop();
    }
  } finally {
    sink.close();
  }
}

/** A gateway with the 10 demo backends that writes a heap snapshot (after a full GC) on SIGUSR2. */
async function start(ctx: BenchContext, label: string): Promise<{ gateway: RunningStonegate; snapshots: string }> {
  const snapshots = join(ctx.tmp, `${label}-snapshots`);
  mkdirSync(snapshots, { recursive: true });
  const gateway = await startStonegate(
    ctx,
    { backends: NAMES.map((name) => ({ name })), nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`] },
    label,
  );
  await waitHealthy(gateway.url, 60_000);
  await sleep(SETTLE_MS);
  return { gateway, snapshots };
}

/**
 * The gateway process's own memory (VmRSS of its pid, not its children):
 * idle with 10 demo backends, then after 100,000 calls, half REST and half
 * /mcp (16 clients each), spread over the 10 backends. Checkpoints show
 * whether it grows with the call count; heap snapshots (taken after a full
 * GC, so they count live objects only) show what is retained.
 */
export const memoryBench: Bench = {
  name: 'memory',
  description: 'gateway RSS idle with 10 demo backends, and after 100,000 calls; live heap before/after from snapshots',
  timeoutMs: 15 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const totalCalls = ctx.options.quick ? 10_000 : 100_000;
    const step = totalCalls / 10;

    // Idle live heap, from a gateway of its own: a snapshot makes the process grow, which would disturb the RSS series below.
    const idleRun = await start(ctx, 'stonegate-idle');
    let idleHeap: HeapSummary;
    try {
      idleHeap = summarizeHeapSnapshot(await takeHeapSnapshot(idleRun.gateway.process, idleRun.snapshots));
    } finally {
      await idleRun.gateway.stop();
    }

    const { gateway, snapshots } = await start(ctx, 'stonegate');
    const rows: string[][] = [];
    const row = async (point: string, calls: number): Promise<number> => {
      const m = memoryOf(gateway.pid);
      const heap = await heapOf(gateway.url);
      rows.push([point, calls.toLocaleString('en-US'), fmt(m.rssMb, 1), fmt(m.hwmMb, 1), fmt(heap.used, 1), fmt(heap.total, 1)]);
      return m.rssMb;
    };
    let idle = 0;
    let final = 0;
    let afterFirst = 0;
    let endHeap: HeapSummary;
    try {
      idle = await row('idle, 10 backends running', 0);
      const rest = await restTarget('REST', gateway.url, NAMES).open(16);
      let mcp: Caller[] = [];
      try {
        mcp = await streamableTarget(
          '/mcp',
          `${gateway.url}/mcp`,
          NAMES.map((n) => `${n}__echo`),
        ).open(16);
        await row('16 /mcp sessions open', 0);
        for (let done = 0; done < totalCalls; done += step) {
          // Alternate surfaces by block: half the calls over REST, half over /mcp.
          const surface = (done / step) % 2 === 0 ? 'REST' : '/mcp';
          const result = await concurrent(surface === 'REST' ? rest : mcp, step, ctx.signal);
          const rss = await row(`after ${surface} calls (${fmt(result.callsPerSec, 0)} calls/s)`, done + step);
          if (done === step) afterFirst = rss;
          ctx.log(`memory: ${done + step} calls, RSS ${fmt(rss, 1)} MB`);
        }
      } finally {
        await closeAll([...rest, ...mcp]);
      }
      await sleep(SETTLE_MS);
      final = await row(`idle again (sessions closed, ${SETTLE_MS / 1000} s later)`, totalCalls);
      endHeap = summarizeHeapSnapshot(await takeHeapSnapshot(gateway.process, snapshots));
    } finally {
      await gateway.stop();
    }

    ctx.log('memory: idle with tracing on');
    const tracingIdle = await idleWithTracing(ctx);
    ctx.log('memory: idle references (bare node, SDK floor, peers)');
    const reference: Table = {
      title: 'Idle RSS for reference, same run, same measure (the process itself, 3 s after it listens)',
      columns: ['process', 'backends', 'RSS MB'],
      leftColumns: [0, 1],
      rows: [
        ...(await references(ctx)),
        ['stonegate (above)', String(BACKENDS), fmt(idle, 1)],
        ['stonegate with tracing on ([telemetry] to a local OTLP sink)', String(BACKENDS), fmt(tracingIdle, 1)],
      ],
    };
    const table: Table = {
      title: `Gateway RSS (VmRSS of the gateway process only) with ${BACKENDS} demo backends`,
      columns: ['point', 'calls', 'RSS MB', 'peak (VmHWM) MB', 'V8 heap used MB', 'V8 heap total MB'],
      rows,
      note: `Delta idle → after ${totalCalls.toLocaleString('en-US')} calls: ${fmt(final - idle, 1)} MB; after ${(2 * step).toLocaleString('en-US')} calls → end: ${fmt(final - afterFirst, 1)} MB. Live heap (snapshot after a full GC): idle ${fmt(idleHeap.totalMb, 1)} MB → after the calls, sessions closed, ${fmt(endHeap.totalMb, 1)} MB.`,
    };
    const growth: Table = {
      title: 'What the live heap gained: idle gateway vs the same gateway after the calls (heap snapshots, by constructor)',
      columns: ['object (V8 type)', 'MB gained', 'count idle', 'count after'],
      leftColumns: [0],
      rows: heapGrowth(idleHeap, endHeap).map((g) => [g.name, fmt(g.deltaMb, 2), g.countBefore.toLocaleString('en-US'), g.countAfter.toLocaleString('en-US')]),
    };
    const liveGrowth = endHeap.totalMb - idleHeap.totalMb;
    return {
      tables: [table, reference, growth],
      notes: [
        'RSS is read from /proc/PID/status of the gateway process; the demo backends are separate processes and not counted. No GC is forced for the RSS series: the numbers are what the OS sees. The V8 heap columns come from the gateway\'s own GET /metrics (prom-client default metrics); "heap used" includes garbage not yet collected.',
        `Calls alternate in blocks of ${step.toLocaleString('en-US')} between REST (16 concurrent fetches) and /mcp (16 sessions), round-robin over the ${BACKENDS} backends' echo; the /mcp sessions are closed (DELETE) before the last reading.`,
        'The live-heap figures come from heap snapshots (`--heapsnapshot-signal`), which V8 takes after a full GC: the idle one from a second, identical gateway (a snapshot makes the process itself grow).',
      ],
      targets: [
        {
          goal: `idle RSS with 10 backends ≤ ${IDLE_TARGET_MB} MB`,
          measured: `${fmt(idle, 1)} MB`,
          pass: idle <= IDLE_TARGET_MB,
          margin: idle <= IDLE_TARGET_MB ? `passes with ${fmt(IDLE_TARGET_MB - idle, 1)} MB to spare` : `misses by ${fmt(idle - IDLE_TARGET_MB, 1)} MB`,
        },
        {
          goal: `idle RSS with 10 backends and tracing on ≤ ${IDLE_TARGET_MB} MB`,
          measured: `${fmt(tracingIdle, 1)} MB`,
          pass: tracingIdle <= IDLE_TARGET_MB,
          margin: `${fmt(tracingIdle - idle, 1)} MB over tracing off`,
        },
        {
          goal: `flat memory over ${totalCalls.toLocaleString('en-US')} calls: live heap after the calls (sessions closed) ≤ idle + 10 MB`,
          measured: `live heap ${fmt(idleHeap.totalMb, 1)} → ${fmt(endHeap.totalMb, 1)} MB; RSS ${fmt(idle, 1)} → ${fmt(final, 1)} MB`,
          pass: liveGrowth <= 10,
          margin: `${liveGrowth >= 0 ? '+' : ''}${fmt(liveGrowth, 1)} MB live heap, ${final - idle >= 0 ? '+' : ''}${fmt(final - idle, 1)} MB RSS`,
        },
      ],
    };
  },
};
