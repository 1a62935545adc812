import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Tool } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Catalog } from '../../src/catalog/catalog.js';
import { silentLogger } from '../../src/log.js';
import type { Bench, BenchContext, BenchReport } from '../bench.js';
import { startCannedMcp } from '../lib/canned-mcp.js';
import type { DiscoverWorkerData } from '../lib/discover-worker.js';
import { DEMO, NODE } from '../lib/paths.js';
import { cpuTimeMs, MARKER, MARKER_VAR } from '../lib/processes.js';
import { fmt, quantile } from '../lib/stats.js';
import { startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';
import { type CpuProfile, summarize, summaryTables } from '../profile-summary.js';

/** Fixed queries: tool-name words, description words, a long phrase, an exact generated name, words nothing has. */
export const QUERIES = [
  'search invoices',
  'read file',
  'echo text',
  'translate emails for a given user',
  'weather forecasts',
  'encrypt contracts in the local cache',
  'export spreadsheets',
  'calendar events by date range',
  'gen_0042',
  'sleep',
  'compare stock quotes across all projects',
  'quantum entanglement',
] as const;

const BACKENDS = 50;
const EXTRA_TOOLS = 200;

/** Lists the tools of one demo backend with DEMO_EXTRA_TOOLS set, over stdio. */
async function demoTools(extra: number): Promise<Tool[]> {
  const transport = new StdioClientTransport({
    command: NODE,
    args: [DEMO],
    env: { ...getDefaultEnvironment(), DEMO_EXTRA_TOOLS: String(extra), [MARKER_VAR]: MARKER },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'stonegate-bench', version: '1.0.0' }, { capabilities: {} });
  await client.connect(transport);
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
  }
}

const serverName = (i: number): string => `demo${String(i).padStart(2, '0')}`;

function timeQueries(run: (query: string) => number, rounds: number): { perQuery: Map<string, number[]>; all: number[]; hits: Map<string, number> } {
  const perQuery = new Map<string, number[]>();
  const hits = new Map<string, number>();
  const all: number[] = [];
  for (let r = 0; r < rounds; r += 1) {
    for (const q of QUERIES) {
      const t0 = performance.now();
      const n = run(q);
      const ms = performance.now() - t0;
      hits.set(q, n);
      all.push(ms);
      const list = perQuery.get(q) ?? [];
      list.push(ms);
      perQuery.set(q, list);
    }
  }
  return { perQuery, all, hits };
}

/** A gateway with the demo backends and an MCP session to it. */
interface Opened {
  call(query: string): Promise<number>;
  close(): Promise<void>;
  /** [speed] The server process, whose CPU is charged to the calls. */
  pid: number;
  /** [speed] One gate_discover result of this server, as the client received it. */
  sample(query: string): Promise<Record<string, unknown>>;
}

/** [speed] CPU per call over timed calls: the server's and this process's (the client's), µs. */
class CallCpu {
  serverUs = 0;
  clientUs = 0;
  calls = 0;
  async time(pid: number, run: () => Promise<number>): Promise<number> {
    const server0 = cpuTimeMs(pid);
    const client0 = process.cpuUsage();
    const ms = await run();
    const client = process.cpuUsage(client0);
    this.clientUs += client.user + client.system;
    this.serverUs += (cpuTimeMs(pid) - server0) * 1000;
    this.calls += 1;
    return ms;
  }
  server = (): string => fmt(this.serverUs / this.calls, 0);
  client = (): string => fmt(this.clientUs / this.calls, 0);
}

/** An SDK client session on `url`, calling gate_discover; `stop` ends what serves it. */
async function discoverSession(url: string, pid: number, stop: () => Promise<void>): Promise<Opened> {
  const client = new Client({ name: 'stonegate-bench', version: '1.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  const sample = async (q: string): Promise<Record<string, unknown>> => await client.callTool({ name: 'gate_discover', arguments: { query: q } });
  return {
    pid,
    sample,
    call: async (q) => {
      const t0 = performance.now();
      const result = await client.callTool({ name: 'gate_discover', arguments: { query: q } });
      const ms = performance.now() - t0;
      if (result.isError === true) throw new Error(`gate_discover failed: ${JSON.stringify(result.content)}`);
      return ms;
    },
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
      await stop();
    },
  };
}

/** Starts a gateway (this build, or `bin`) with `backends` demo backends, waits until its catalog holds `size` tools, and opens a session. */
async function openGateway(ctx: BenchContext, backends: number, size: number, notes: string[], bin?: string): Promise<Opened> {
  ctx.log(`discover: starting a gateway with ${backends} backends${bin === undefined ? '' : ` (${bin})`}`);
  const started = performance.now();
  const backendList = Array.from({ length: backends }, (_, i) => ({ name: serverName(i), extraTools: EXTRA_TOOLS }));
  const gateway = await startStonegate(
    ctx,
    { backends: backendList, ...(bin === undefined ? {} : { bin }) },
    bin === undefined ? 'stonegate' : 'stonegate-base',
  );
  await waitHealthy(gateway.url, 5 * 60_000);
  const readyS = (performance.now() - started) / 1000;
  // Measure the steady state: every backend's listing in the catalog, not the start-up burst.
  let listed: { total?: number } = {};
  for (const deadline = Date.now() + 5 * 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
    listed = (await (await fetch(`${gateway.url}/tools`)).json()) as { total?: number };
    if ((listed.total ?? 0) >= size) break;
  }
  const extra = (listed.total ?? 0) - size;
  notes.push(
    `The gateway${bin === undefined ? '' : ` ${bin}`} with ${backends} demo backends (one process each, started in parallel) was healthy after ${fmt(readyS, 1)} s and lists ${(listed.total ?? 0).toLocaleString('en-US')} tools on GET /tools${extra > 0 ? ` (${extra} of them from the gateway's built-in backends, enabled by default)` : ''}.`,
  );
  return discoverSession(`${gateway.url}/mcp`, gateway.pid, () => gateway.stop());
}

/** [speed] A build's Catalog.discover in a worker thread of its own (bench/lib/discover-worker.ts): `pass` times the queries once. */
async function searchWorker(
  distSrc: URL,
  tools: Tool[],
  backends: number,
): Promise<{ pass(queries: readonly string[]): Promise<number[]>; stop(): Promise<number> }> {
  const data: DiscoverWorkerData = {
    catalogUrl: new URL('catalog/catalog.js', distSrc).href,
    logUrl: new URL('log.js', distSrc).href,
    tools,
    servers: Array.from({ length: backends }, (_, i) => serverName(i)),
  };
  const worker = new Worker(new URL('../lib/discover-worker.js', import.meta.url), { workerData: data });
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  await next(); // 'ready': the catalog is built
  return {
    pass: async (queries) => {
      const answer = next();
      worker.postMessage(queries);
      return (await answer) as number[];
    },
    stop: () => worker.terminate(),
  };
}

/**
 * With STONEGATE_BENCH_BASE_BIN=<build>/bin/stonegate.js: that build's
 * Catalog.discover and this one's on the same tools, in interleaved rounds
 * (an A/B of the search in one run). [speed] Each build searches in a worker
 * thread of its own, built the same way, and the rounds alternate which goes
 * first: in the bench's own thread, where this build had searched first,
 * identical code measured 20–40 % apart on mid-sized queries (#30).
 */
async function baseInProcess(tools: Tool[], backends: number, rounds: number): Promise<Table | undefined> {
  const bin = process.env.STONEGATE_BENCH_BASE_BIN;
  if (bin === undefined) return undefined;
  const builds = [
    await searchWorker(new URL('../../src/', import.meta.url), tools, backends),
    await searchWorker(pathToFileURL(join(dirname(bin), '..', 'dist', 'src', '/')), tools, backends),
  ];
  try {
    for (const build of builds) for (let i = 0; i < 3; i += 1) await build.pass(QUERIES); // warm-up
    const all: [number[], number[]] = [[], []];
    const perQuery = new Map<string, [number[], number[]]>(QUERIES.map((q) => [q, [[], []]]));
    for (let r = 0; r < rounds; r += 1) {
      for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
        const ms = await (builds[i] as (typeof builds)[number]).pass(QUERIES);
        all[i as 0 | 1].push(...ms);
        for (const [k, q] of QUERIES.entries()) perQuery.get(q)?.[i as 0 | 1].push(ms[k] as number);
      }
    }
    return {
      title: `Catalog.discover in-process, this build against ${bin}: each in a worker thread of its own, ${rounds} rounds alternating which goes first (p50 ms)`,
      columns: ['query', 'this build', 'base'],
      leftColumns: [0],
      rows: [
        ['all queries', fmt(quantile(all[0], 0.5), 3), fmt(quantile(all[1], 0.5), 3)],
        ...QUERIES.map((q) => [q, fmt(quantile(perQuery.get(q)?.[0] ?? [], 0.5), 3), fmt(quantile(perQuery.get(q)?.[1] ?? [], 0.5), 3)]),
      ],
    };
  } finally {
    for (const build of builds) await build.stop();
  }
}

/**
 * gate_discover over a catalog of 10,550 tools: 50 demo backends with
 * DEMO_EXTRA_TOOLS=200 (11 fixed tools + 200 generated each), measured
 * through /mcp and in-process (Catalog.discover on the same tools), with a
 * CPU profile of the in-process loop.
 */
export const discoverBench: Bench = {
  name: 'discover',
  description: 'gate_discover over 10,550 tools (50 demo backends × 211): via /mcp and Catalog.discover in-process',
  timeoutMs: 10 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const backends = ctx.options.quick ? 10 : BACKENDS;
    const rounds = ctx.options.quick ? 5 : 30;
    const notes: string[] = [];

    // --- in-process: the same tools the gateway would hold, no HTTP.
    const tools = await demoTools(EXTRA_TOOLS);
    const catalog = new Catalog({ separator: '__', ttlSeconds: 300, logger: silentLogger() });
    const buildStart = performance.now();
    for (let i = 0; i < backends; i += 1) catalog.set(serverName(i), tools);
    const buildMs = performance.now() - buildStart;
    const size = catalog.tools().length;
    notes.push(
      `${backends} backends × ${tools.length} tools = ${size.toLocaleString('en-US')} tools (DEMO_EXTRA_TOOLS=${EXTRA_TOOLS}; the demo server has 11 tools of its own). Building the in-process index took ${fmt(buildMs, 0)} ms.`,
    );
    const discover = (q: string): number => catalog.discover(q, { limit: 10 }).ranked.length;
    timeQueries(discover, 3); // warm-up
    const inProcess = timeQueries(discover, rounds);
    const matches = new Map(QUERIES.map((q) => [q, catalog.discover(q, { limit: 100_000 }).matched]));
    const versus = await baseInProcess(tools, backends, rounds);

    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    timeQueries(discover, Math.max(3, Math.floor(rounds / 3)));
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    const profileTables = summaryTables(summarize(profile as unknown as CpuProfile, 12), 'Catalog.discover in-process profile', 10);

    if (process.env.STONEGATE_BENCH_DISCOVER_IN_PROCESS === '1')
      return { tables: [...(versus === undefined ? [] : [versus]), ...profileTables], notes, targets: [] };

    // --- through the gateway: gate_discover over /mcp (and, with STONEGATE_BENCH_BASE_BIN, the base build's, in interleaved rounds).
    const base = process.env.STONEGATE_BENCH_BASE_BIN;
    const opened: Opened[] = [];
    const viaMcp = { perQuery: new Map<string, number[]>(), all: [] as number[] };
    const baseMcp: number[] = [];
    // [speed] The same answers from a server that does no work (bench/lib/canned-mcp.ts): the SDK client's and HTTP's own share.
    const cannedMcp: number[] = [];
    const cpu = { mcp: new CallCpu(), base: new CallCpu(), canned: new CallCpu() };
    try {
      const mine = await openGateway(ctx, backends, size, notes);
      opened.push(mine);
      if (base !== undefined) opened.push(await openGateway(ctx, backends, size, notes, base));
      // The canned server answers every call with this build's answer to the first query (about 8 KB), so it is one row, not one per query.
      const served = await startCannedMcp(ctx, await mine.sample(QUERIES[0]));
      const canned = await discoverSession(served.url, served.pid, () => served.stop());
      opened.push(canned);
      const theBase = base === undefined ? undefined : opened[1];
      for (const o of opened) for (const q of QUERIES) await o.call(q); // warm-up
      for (let r = 0; r < rounds; r += 1) {
        for (const q of QUERIES) {
          const ms = await cpu.mcp.time(mine.pid, () => mine.call(q));
          viaMcp.all.push(ms);
          const list = viaMcp.perQuery.get(q) ?? [];
          list.push(ms);
          viaMcp.perQuery.set(q, list);
          if (theBase !== undefined) baseMcp.push(await cpu.base.time(theBase.pid, () => theBase.call(q)));
          cannedMcp.push(await cpu.canned.time(canned.pid, () => canned.call(q)));
        }
      }
    } finally {
      for (const o of opened) await o.close();
    }

    const summary: Table = {
      title: `gate_discover over ${size.toLocaleString('en-US')} tools: ${QUERIES.length} queries × ${rounds} rounds, limit 10`,
      columns: ['path', 'p50 ms', 'p99 ms', 'max ms', 'server CPU µs/call', 'client CPU µs/call'],
      rows: [
        [
          'gate_discover via /mcp (SDK client, Streamable HTTP)',
          fmt(quantile(viaMcp.all, 0.5)),
          fmt(quantile(viaMcp.all, 0.99)),
          fmt(quantile(viaMcp.all, 1)),
          cpu.mcp.server(),
          cpu.mcp.client(),
        ],
        ['Catalog.discover in-process', fmt(quantile(inProcess.all, 0.5)), fmt(quantile(inProcess.all, 0.99)), fmt(quantile(inProcess.all, 1)), '', ''],
        ...(baseMcp.length === 0
          ? []
          : [
              [
                `base build (${base}) via /mcp, same rounds`,
                fmt(quantile(baseMcp, 0.5)),
                fmt(quantile(baseMcp, 0.99)),
                fmt(quantile(baseMcp, 1)),
                cpu.base.server(),
                cpu.base.client(),
              ],
            ]),
        [
          'SDK client floor: the same client, a canned node:http server answering with one ~8 KB gate_discover result, same rounds',
          fmt(quantile(cannedMcp, 0.5)),
          fmt(quantile(cannedMcp, 0.99)),
          fmt(quantile(cannedMcp, 1)),
          cpu.canned.server(),
          cpu.canned.client(),
        ],
      ],
    };
    const perQuery: Table = {
      title: 'Per query: matching tools (before the limit) and p50 ms',
      columns: ['query', 'matches', 'in-process p50', '/mcp p50'],
      leftColumns: [0],
      rows: QUERIES.map((q) => [
        q,
        (matches.get(q) ?? 0).toLocaleString('en-US'),
        fmt(quantile(inProcess.perQuery.get(q) ?? [], 0.5)),
        fmt(quantile(viaMcp.perQuery.get(q) ?? [], 0.5)),
      ]),
    };
    const p50 = quantile(viaMcp.all, 0.5);
    notes.push(
      '"server CPU" is the CPU of the gateway (or canned server) process per call (every thread), "client CPU" this process\'s (the SDK client, undici, GC). The SDK client floor row is the same kind of client against a node:http server in its own process that searches nothing and answers every call with one gate_discover result of this build, as the lean /mcp path writes it (bench/lib/canned-mcp.ts): what the client and one HTTP round trip cost for an answer of that size.',
    );
    return {
      tables: [summary, perQuery, ...(versus === undefined ? [] : [versus]), ...profileTables],
      notes,
      targets: [
        {
          goal: 'gate_discover over 10,000 tools p50 ≤ 2 ms (via /mcp)',
          measured: `${fmt(p50)} ms (in-process ${fmt(quantile(inProcess.all, 0.5))} ms)`,
          pass: p50 <= 2,
          margin: p50 <= 2 ? `passes with ${fmt(2 - p50)} ms to spare` : `misses by ${fmt(p50 - 2)} ms (${fmt(p50 / 2)}× the goal)`,
        },
      ],
    };
  },
};
