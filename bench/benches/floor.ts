import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Bench, BenchContext, BenchReport } from '../bench.js';
import { LeanPool } from '../lib/lean-http.js';
import { type Call, drive, leanCallers, type Surface } from '../lib/lean-mcp.js';
import { DEMO, NODE, ROOT } from '../lib/paths.js';
import { startMcpProxy, startSupergateway } from '../lib/peers.js';
import { freePort, waitForPort } from '../lib/ports.js';
import { cpuTimeMs, descendants, MARKER, MARKER_VAR } from '../lib/processes.js';
import { fmt, median, quantile } from '../lib/stats.js';
import { startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';

/*
 * The floor: in one run, the same lean keep-alive client (bench/lib/lean-http.ts)
 * drives a bare node:http server answering a canned reply of the size of
 * stonegate's REST answer, direct stdio (JSON-RPC lines to the demo backend,
 * no SDK on the client side), stonegate REST and /mcp (2025 sessions and
 * 2026-07-28), supergateway and mcp-proxy (/mcp). For each: CPU per call of
 * the target's own process, of its children (the backend) and of the client
 * (this process) at 16 concurrent clients, and the p50 of one sequential
 * client, three times (after as many calls to warm it).
 *
 * STONEGATE_BENCH_BASE_BIN=<another build>/bin/stonegate.js makes it an A/B
 * instead: that build and this one, interleaved for STONEGATE_FLOOR_ROUNDS
 * rounds (2), both with STONEGATE_FLOOR_HEAP ("compact", "balanced" or "fast"), and no peers.
 * Both take lists: `STONEGATE_BENCH_BASE_BIN=old=<path>,nocap=<path>` and
 * `STONEGATE_FLOOR_HEAP=balanced,fast` measure every build with every heap.
 */

const CLIENTS = 16;
const PEERS = [
  ['supergateway --stateful /mcp', startSupergateway],
  ['mcp-proxy /mcp', startMcpProxy],
] as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Row {
  name: string;
  own: number;
  children: number;
  client: number;
  p50s: number[];
  /** [speed] The proxy process's CPU per call over the three timed sequential runs (µs). */
  seqOwn: number;
}

/** A target: 16 callers and one sequential caller, and the process whose CPU is the proxy's (undefined for direct stdio). */
interface Opened {
  calls: Call[];
  seq: Call;
  pid: number | undefined;
  close(): Promise<void>;
}

function treeCpu(pid: number): { own: number; children: number } {
  const own = cpuTimeMs(pid);
  let children = 0;
  for (const child of descendants(pid)) {
    try {
      children += cpuTimeMs(child);
    } catch {
      // gone
    }
  }
  return { own, children };
}

async function measure(name: string, opened: Opened, calls: number, seqCalls: number, signal: AbortSignal): Promise<Row> {
  // [speed] Warmed with a quarter of the timed calls (was 500): the first few thousand calls of a fresh gateway cost 2–3× the
  // steady state (optimizing compiles on V8's threads, the young generation and the old generation's limit still growing), and
  // the first row measured on each gateway (REST) carried that warm-up. STONEGATE_FLOOR_WARM=<calls> sets it.
  await drive(opened.calls, Number(process.env.STONEGATE_FLOOR_WARM ?? Math.max(500, calls / 4)), signal);
  const root = opened.pid ?? process.pid;
  const before = treeCpu(root);
  const client0 = process.cpuUsage();
  await drive(opened.calls, calls, signal);
  const client = process.cpuUsage(client0);
  const after = treeCpu(root);
  const clientMs = (client.user + client.system) / 1000;
  // Direct stdio: the client is this process, and its only child is the backend.
  const own = opened.pid === undefined ? 0 : after.own - before.own;
  // The sequential caller warmed first, as the 16 were: a peer that serves each session with a backend of its own
  // (supergateway --stateful) would otherwise time its first run on a cold backend (p50 falling run by run).
  for (let i = 0; i < seqCalls; i += 1) await opened.seq();
  const p50s: number[] = [];
  const seqBefore = opened.pid === undefined ? 0 : cpuTimeMs(opened.pid);
  for (let run = 0; run < 3; run += 1) {
    const latencies = new Float64Array(seqCalls);
    for (let i = 0; i < seqCalls; i += 1) {
      const t0 = performance.now();
      await opened.seq();
      latencies[i] = performance.now() - t0;
    }
    p50s.push(quantile(latencies, 0.5));
  }
  const seqOwn = opened.pid === undefined ? 0 : ((cpuTimeMs(opened.pid) - seqBefore) * 1000) / (3 * seqCalls);
  return { name, own: (own * 1000) / calls, children: ((after.children - before.children) * 1000) / calls, client: (clientMs * 1000) / calls, p50s, seqOwn };
}

/** A bare node:http server answering every request with `size` bytes of JSON. */
async function floorServer(ctx: BenchContext, size: number): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const script = `const body = Buffer.from(JSON.stringify({ result: { content: [{ type: 'text', text: 'soak' }] }, pad: '' }).padEnd(${size}, ' '));
require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body); }); }).listen(${port}, '127.0.0.1');`;
  const proc = ctx.processes.spawn('node:http floor', NODE, ['-e', script], { cwd: ROOT });
  await waitForPort(port, 10_000, proc.exited);
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid, stop: () => proc.stop() };
}

/** The demo backend over stdio, spoken to in JSON-RPC lines by this process. */
async function directStdio(): Promise<Opened> {
  const child = spawn(NODE, [DEMO], { cwd: ROOT, env: { ...process.env, [MARKER_VAR]: MARKER }, stdio: ['pipe', 'pipe', 'ignore'] });
  const waiting = new Map<number, () => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const id = /"id":(\d+)/.exec(line)?.[1];
    if (id !== undefined) waiting.get(Number(id))?.();
  });
  let nextId = 1;
  const send = (message: Record<string, unknown>): Promise<void> => {
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, () => {
        waiting.delete(id);
        resolve();
      });
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, ...message })}\n`);
    });
  };
  await send({ method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'floor', version: '1' } } });
  child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  const call: Call = () => send({ method: 'tools/call', params: { name: 'echo', arguments: { text: 'soak' } } });
  return {
    calls: Array.from({ length: CLIENTS }, () => call),
    seq: call,
    pid: undefined,
    close: async () => {
      child.kill();
      await sleep(100);
    },
  };
}

async function overHttp(url: string, pid: number, surface: Surface, tool: string, path = '/mcp'): Promise<Opened> {
  const pool = new LeanPool(url);
  const many = await leanCallers(pool, surface, CLIENTS, tool, path);
  const one = await leanCallers(pool, surface, 1, tool, path);
  return {
    calls: many.calls,
    seq: one.calls[0] as Call,
    pid,
    close: async () => {
      await many.close();
      await one.close();
      pool.close();
    },
  };
}

export const floorBench: Bench = {
  name: 'floor',
  description: 'CPU per call by process and sequential p50 against a bare node:http floor and direct stdio, with one lean keep-alive client',
  timeoutMs: 45 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const calls = ctx.options.quick ? 2_000 : 20_000;
    const seqCalls = ctx.options.quick ? 500 : 2_000;
    const rows: Row[] = [];
    const run = async (name: string, open: () => Promise<Opened>): Promise<void> => {
      const opened = await open();
      try {
        const row = await measure(name, opened, calls, seqCalls, ctx.signal);
        rows.push(row);
        // Each row as it is measured, so that a run stopped at its time bound still shows what it measured.
        ctx.log(
          `floor: ${name}: ${fmt(row.own, 0)} µs/call (proxy), ${fmt(row.children, 0)} (backend), sequential ${fmt(row.seqOwn, 0)} (proxy), p50 ${row.p50s.map((p) => fmt(p, 3)).join(' / ')} ms`,
        );
      } finally {
        await opened.close();
      }
    };
    /** The gateway's surfaces, each one row: REST, /mcp 2025 sessions, /mcp 2026-07-28 (and that on /mcp/{server}). */
    const gatewayRows = async (label: string, options: { heap: 'compact' | 'balanced' | 'fast'; bin?: string }): Promise<void> => {
      const sg = await startStonegate(ctx, { poolMax: 1, ...options }, 'stonegate-floor-gw');
      try {
        await waitHealthy(sg.url, 30_000);
        await run(`stonegate REST (${label})`, () => overHttp(sg.url, sg.pid, 'REST', 'demo__echo'));
        await run(`stonegate /mcp, 2025 sessions (${label})`, () => overHttp(sg.url, sg.pid, '/mcp 2025 sessions', 'demo__echo'));
        // [speed] Sessions that declare sampling and elicitation (most real agents): lean JSON since #30's switch to SSE on demand.
        await run(`stonegate /mcp, 2025 sessions declaring sampling (${label})`, () => overHttp(sg.url, sg.pid, '/mcp 2025 sessions, asking', 'demo__echo'));
        await run(`stonegate /mcp, 2026-07-28 (${label})`, () => overHttp(sg.url, sg.pid, '/mcp 2026-07-28', 'demo__echo'));
        await run(`stonegate /mcp/demo, 2026-07-28 (${label})`, () => overHttp(sg.url, sg.pid, '/mcp 2026-07-28', 'echo', '/mcp/demo'));
      } finally {
        await sg.stop();
      }
    };
    const gateway = await startStonegate(ctx, { poolMax: 1 }, 'stonegate-floor');
    try {
      await waitHealthy(gateway.url, 30_000);
      const probe = new LeanPool(gateway.url);
      const size = (await probe.request('POST', '/call', JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'soak' } }))).body.length;
      probe.close();
      const floor = await floorServer(ctx, size);
      try {
        const pool = new LeanPool(floor.url);
        const call: Call = async () => void (await pool.request('POST', '/call', '{}'));
        await run(`bare node:http, canned ${size} B`, async () => ({
          calls: Array.from({ length: CLIENTS }, () => call),
          seq: call,
          pid: floor.pid,
          close: async () => pool.close(),
        }));
      } finally {
        await floor.stop();
      }
      await run('direct stdio (JSON-RPC lines)', directStdio);
    } finally {
      await gateway.stop();
    }
    const base = process.env.STONEGATE_BENCH_BASE_BIN;
    if (base !== undefined) {
      // An A/B against another build (STONEGATE_BENCH_BASE_BIN): both builds with the same heap setting, interleaved round by round.
      // [speed] Several builds (`label=path,...`) and heap settings (`balanced,fast`): every pair, interleaved likewise.
      const heaps = (process.env.STONEGATE_FLOOR_HEAP ?? 'compact').split(',').filter((h) => h === 'compact' || h === 'balanced' || h === 'fast');
      const builds = base.split(',').map((entry): [string, string | undefined] => {
        const at = entry.indexOf('=');
        return at === -1 ? ['base', entry] : [entry.slice(0, at), entry.slice(at + 1)];
      });
      const rounds = Number(process.env.STONEGATE_FLOOR_ROUNDS ?? '2');
      for (let round = 1; round <= rounds; round += 1) {
        for (const [label, bin] of [...builds, ['this build', undefined] as [string, undefined]]) {
          for (const heap of heaps.length === 0 ? (['compact'] as const) : heaps)
            await gatewayRows(`${label}, heap ${heap}, round ${round}`, { heap, ...(bin === undefined ? {} : { bin }) });
        }
      }
    } else {
      // The gateway as shipped ([server] heap = "balanced"), then the other heap sizings: an A/B in the same run.
      for (const heap of ['balanced', 'compact', 'fast'] as const) await gatewayRows(`heap ${heap}`, { heap });
    }
    for (const [name, start] of base !== undefined ? [] : PEERS) {
      try {
        const peer = await start(ctx);
        try {
          await run(name, () => overHttp(peer.url, peer.process.pid, '/mcp 2025 sessions', 'echo'));
        } finally {
          await peer.stop();
        }
      } catch (err) {
        ctx.log(`floor: ${name} not measured: ${(err as Error).message.slice(0, 200)}`);
      }
    }
    const floorOwn = rows[0]?.own ?? Number.NaN;
    const floorSeq = rows[0]?.seqOwn ?? Number.NaN;
    const direct = rows[1] === undefined ? Number.NaN : median(rows[1].p50s);
    const table: Table = {
      title: `CPU per call at ${CLIENTS} concurrent clients (µs, by process) and sequential p50 (ms, three runs), one lean keep-alive client`,
      columns: [
        'target',
        'proxy process µs',
        '× floor',
        'backend µs',
        'client µs',
        'sequential: proxy µs',
        '× floor',
        'p50 run 1',
        'p50 run 2',
        'p50 run 3',
        'p50 over direct stdio',
      ],
      rows: rows.map((r) => [
        r.name,
        fmt(r.own, 0),
        r.own > 0 ? `${fmt(r.own / floorOwn, 2)}×` : '—',
        fmt(r.children, 0),
        fmt(r.client, 0),
        r.seqOwn > 0 ? fmt(r.seqOwn, 0) : '—',
        r.seqOwn > 0 ? `${fmt(r.seqOwn / floorSeq, 2)}×` : '—',
        ...r.p50s.map((p) => fmt(p, 3)),
        fmt(median(r.p50s) - direct, 3),
      ]),
    };
    return {
      tables: [table],
      notes: [
        `${calls.toLocaleString('en-US')} calls at ${CLIENTS} clients, then ${seqCalls.toLocaleString('en-US')} sequential calls to warm the sequential client and three times ${seqCalls.toLocaleString('en-US')} timed, per target. CPU from /proc (each thread's schedstat run time, in ns); "backend" is the target's child processes (the demo backend; for the floor, none; for direct stdio, the backend itself). "sequential: proxy µs" is the proxy process's CPU per call over the three timed sequential runs (one client, one call at a time), against the floor's in the same phase.`,
      ],
      targets: [],
    };
  },
};
