import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TelemetrySettings } from '../../src/config/telemetry-schema.js';
import { silentLogger } from '../../src/log.js';
import { createTracing } from '../../src/telemetry/otel.js';
import type { SpanAttributes, Tracing } from '../../src/telemetry/telemetry.js';
import type { Bench, BenchReport, TargetCheck } from '../bench.js';
import { concurrent } from '../lib/load.js';
import { cpuTimeMs, memoryOf } from '../lib/processes.js';
import { fmt, median } from '../lib/stats.js';
import { startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';
import { type Caller, closeAll, restTarget, streamableTarget, type Target } from '../lib/targets.js';

/*
 * [otel] What tracing costs the gateway: CPU per call with [telemetry] off,
 * on at sample_ratio 0 (nothing sampled: no spans made) and on at 1.0
 * (every span exported to an OTLP/HTTP sink in this process that answers at
 * once). Then, in this process, tracing's own CPU for the spans of one REST
 * call (the POST's span, which its routed call shares, with the pool wait; backend request) and of one /mcp call
 * (one span for the POST, its MCP request and its call; backend request),
 * without and with their export: figures the shared machine's noise hardly moves.
 *
 * Every variant's gateway runs at once; the rounds go variant by variant in
 * short chunks, so the shared machine's drift falls on every variant alike.
 * A variant's CPU per call is the CPU its process used from the start of
 * its chunk in one round to the start of its chunk in the next (its exports
 * after the chunk included), over the chunk's calls: the median of rounds.
 *
 * STONEGATE_BENCH_BASE_BIN=<another build>/bin/stonegate.js adds that build
 * (the parent commit) with tracing off, for "off within noise";
 * STONEGATE_BENCH_OTEL_BEFORE_BIN=<another build>/bin/stonegate.js adds it
 * with tracing on at 0 and 1.0, for an A/B of a tracing change.
 * STONEGATE_BENCH_OTEL_CHUNK sets the calls per variant per round (500).
 * STONEGATE_BENCH_OTEL_HEAP sets [server] heap of every variant, the other
 * builds' too (`fast`, the default: V8's own sizing, no heap watch, so GC
 * sizing is the same for all and only tracing differs; `default`: the
 * gateway's default, `balanced`).
 */

interface Variant {
  label: string;
  toml: (sink: string) => string;
  bin?: string;
  env?: Record<string, string>;
}

/**
 * STONEGATE_BENCH_OTEL_VARIANTS=`b128:OTEL_BSP_MAX_EXPORT_BATCH_SIZE=128;b2k:OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2048,OTEL_BSP_MAX_QUEUE_SIZE=4096`:
 * more "on, 1.0" variants of this build, each with that environment (an A/B of the SDK's settings in one run).
 */
function envVariants(spec: string | undefined): Variant[] {
  if (spec === undefined || spec.trim() === '') return [];
  return spec.split(';').map((entry) => {
    const [label = '', pairs = ''] = entry.split(':');
    const env = Object.fromEntries(pairs.split(',').map((pair) => pair.split('=') as [string, string]));
    return { label: `on, 1.0, ${label}`, toml: on('1.0'), env };
  });
}

const LOADS: readonly { label: string; target: (url: string) => Target }[] = [
  { label: 'REST POST /call, 16 concurrent', target: (url) => restTarget('REST', url) },
  { label: '/mcp tools/call, 16 sessions', target: (url) => streamableTarget('/mcp', `${url}/mcp`, ['demo__echo']) },
];

const on = (ratio: string): ((url: string) => string) => {
  return (url) => `[telemetry]\nenabled = true\notlp_endpoint = "${url}"\nsample_ratio = ${ratio}\n`;
};

/**
 * The spans of one REST call at sample_ratio 1.0, as the gateway makes them
 * (hot-routes.ts, call-trace.ts): the POST's server span, which the routed
 * call takes as its own, with its pool wait as an attribute (a `pool
 * acquire` span only for a wait of 1 ms or more, rare under this load), and
 * the backend client span, with attributes made once per tool as
 * call-trace.ts does.
 */
function restCallSpans(tracing: Tracing): void {
  const http = tracing.startHttp(undefined, 'POST', '/call', () => undefined, '/call');
  const call = tracing.start(http?.span, undefined, false, 'internal', describe, 'echo');
  call.set({ 'stonegate.pool.wait_ms': 0.02 });
  const client = call.child('tools/call echo', 'client', CLIENT);
  client.carrier();
  client.end();
  call.set({ 'stonegate.outcome': 'success', 'stonegate.attempt': 1, 'stonegate.breaker_state': 'closed' });
  call.end();
  if (http !== undefined) tracing.endHttp(http, '/call', 200);
}

const CLIENT: SpanAttributes = {
  'stonegate.server': 'demo',
  'network.transport': 'pipe',
  'mcp.method.name': 'tools/call',
  'gen_ai.tool.name': 'echo',
  'gen_ai.operation.name': 'execute_tool',
  'process.pid': process.pid,
};

const CALL = {
  name: 'execute_tool echo',
  attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'echo', 'stonegate.server': 'demo', 'stonegate.exposed_name': 'demo__echo' },
};

function describe(_tool: string): { name: string; attributes: SpanAttributes } {
  return CALL;
}

/**
 * The spans of one plain `POST /mcp` tools/call at sample_ratio 1.0, as the
 * lean path makes them (hot-routes.ts, mcp-lean.ts, call-trace.ts): the
 * POST's server span keyed by its request, the MCP request's span (the same
 * span) found by its signal, the routed call (which takes that span), the
 * backend request. The session's caller name is on the call, as on /mcp.
 */
let mcpId = 0;
const MCP_PARAMS = { name: 'demo__echo', arguments: {} };
const MCP_CALL = { name: CALL.name, attributes: { ...CALL.attributes, 'stonegate.caller': 'stonegate-bench' } };
export function mcpCallSpans(tracing: Tracing): void {
  const request = {};
  const signal = {};
  const http = tracing.startHttp(request, 'POST', '/mcp', () => undefined, '/mcp');
  const mcp = tracing.startMcp(
    request,
    { method: 'tools/call', id: (mcpId += 1), params: MCP_PARAMS },
    () => 'bench-session',
    () => 'stonegate-bench',
    signal,
  );
  const call = tracing.start(tracing.spanOf(signal), undefined, false, 'internal', () => MCP_CALL, 'echo');
  call.set({ 'stonegate.pool.wait_ms': 0.02 });
  const client = call.child('tools/call echo', 'client', CLIENT);
  client.carrier();
  client.end();
  call.set({ 'stonegate.outcome': 'success', 'stonegate.attempt': 1, 'stonegate.breaker_state': 'closed' });
  call.end();
  mcp?.end({ content: [] });
  if (http !== undefined) tracing.endHttp(http, '/mcp', 200);
}

/**
 * This process's CPU per call for `spans` (one call's), 50 calls at a time (the
 * batch processor exports between them); `exported`: the OTLP/HTTP export
 * to `sink` included (its last batch flushed), else nothing is exported
 * during the run (one batch as large as the run, sent after it).
 */
async function inProcess(sink: string, calls: number, exported: boolean, spans: (tracing: Tracing) => void): Promise<number> {
  const env = { OTEL_BSP_SCHEDULE_DELAY: process.env.OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: process.env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE };
  if (!exported) Object.assign(process.env, { OTEL_BSP_SCHEDULE_DELAY: '3600000', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: String(calls * 8) });
  const settings = { enabled: true, otlp_endpoint: sink, protocol: '', headers: {}, service_name: '', sample_ratio: 1, max_queue_size: calls * 8 } as const;
  const tracing = createTracing(settings as unknown as TelemetrySettings, silentLogger());
  // The batch processor is built at the first sampled span (src/telemetry/sdk.ts) and reads OTEL_BSP_* then: one span first.
  spans(tracing);
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  try {
    for (let i = 0; i < 2000; i += 1) spans(tracing);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = process.cpuUsage();
    for (let done = 0; done < calls; done += 50) {
      for (let i = 0; i < 50; i += 1) spans(tracing);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // With export: the batches still queued go out (the default schedule, 5 s), and count.
    if (exported) await new Promise((resolve) => setTimeout(resolve, 5_500));
    const used = process.cpuUsage(before);
    return (used.user + used.system) / calls;
  } finally {
    await tracing.shutdown();
  }
}

export const telemetryBench: Bench = {
  name: 'telemetry',
  description: 'gateway CPU per call with tracing off, on at sample_ratio 0 and 1.0 (OTLP/HTTP to a local sink), in interleaved chunks; idle RSS on and off',
  timeoutMs: 40 * 60_000,
  async run(ctx): Promise<BenchReport> {
    // STONEGATE_BENCH_OTEL_CHUNK: calls per variant per round (CPU is read to the ns, bench/lib/processes.ts; a longer chunk evens out GC).
    const chunk = Number(process.env.STONEGATE_BENCH_OTEL_CHUNK ?? (ctx.options.quick ? 300 : 500));
    const rounds = Number(process.env.STONEGATE_BENCH_OTEL_ROUNDS ?? (ctx.options.quick ? 3 : 12));
    // The sink: an OTLP/HTTP receiver that takes every export and answers 200 (protobuf, the default protocol).
    let exports = 0;
    const sink = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        exports += 1;
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
    const base = process.env.STONEGATE_BENCH_BASE_BIN;
    const before = process.env.STONEGATE_BENCH_OTEL_BEFORE_BIN;
    const variants: Variant[] = [
      ...(base === undefined ? [] : [{ label: 'parent commit', toml: () => '', bin: base }]),
      { label: 'off', toml: () => '' },
      { label: 'on, sample_ratio 0', toml: on('0') },
      // [otel] What docs/tracing.md suggests for a busy gateway: a tenth of the calls traced.
      { label: 'on, sample_ratio 0.1', toml: on('0.1') },
      { label: 'on, sample_ratio 1.0', toml: on('1.0') },
      ...(before === undefined
        ? []
        : [
            { label: 'before: on, 0', toml: on('0'), bin: before },
            { label: 'before: on, 1.0', toml: on('1.0'), bin: before },
          ]),
      ...envVariants(process.env.STONEGATE_BENCH_OTEL_VARIANTS),
    ];
    const heapSetting = process.env.STONEGATE_BENCH_OTEL_HEAP ?? 'fast';
    const heap = heapSetting === 'default' ? undefined : (heapSetting as 'compact' | 'balanced' | 'fast');
    const cpu = new Map<string, number[]>();
    const rss = new Map<string, number>();
    const firstCalls = new Map<string, [number, number]>();
    const own = new Map<string, number[]>();
    const running: { variant: Variant; pid: number; stop: () => Promise<void>; loads: Caller[][] }[] = [];
    try {
      for (const variant of variants) {
        const gateway = await startStonegate(
          ctx,
          // The same heap sizing for every variant, the other builds' too (STONEGATE_BENCH_OTEL_HEAP), so only tracing differs.
          {
            poolMax: 1,
            extraToml: variant.toml(sinkUrl),
            ...(heap === undefined ? {} : { heap }),
            ...(variant.bin === undefined ? {} : { bin: variant.bin }),
            ...(variant.env === undefined ? {} : { env: variant.env }),
          },
          `stonegate-otel-${running.length}`,
        );
        running.push({ variant, pid: gateway.pid, stop: () => gateway.stop(), loads: [] });
        await waitHealthy(gateway.url, 30_000);
        // Idle: 3 s after healthy, before any call (as the memory bench).
        await new Promise((resolve) => setTimeout(resolve, 3000));
        rss.set(variant.label, memoryOf(gateway.pid).rssMb);
        // The first call and the one after it (with tracing on, the first loads the SDK: src/telemetry/sdk.ts).
        const single = (await restTarget('REST', gateway.url).open(1))[0] as Caller;
        const firstAt = performance.now();
        await single.call();
        const secondAt = performance.now();
        await single.call();
        firstCalls.set(variant.label, [secondAt - firstAt, performance.now() - secondAt]);
        const entry = running[running.length - 1] as (typeof running)[number];
        for (const load of LOADS) {
          const callers = await load.target(gateway.url).open(16);
          entry.loads.push(callers);
          await concurrent(callers, 500, ctx.signal);
        }
      }
      for (const [index, load] of LOADS.entries()) {
        // started[v]: the variant's CPU at the start of its last chunk.
        const started = new Map<string, number>();
        for (let round = 0; round <= rounds; round += 1) {
          for (const gateway of running) {
            const now = cpuTimeMs(gateway.pid);
            const key = `${load.label}\u0000${gateway.variant.label}`;
            const last = started.get(key);
            if (last !== undefined) cpu.set(key, [...(cpu.get(key) ?? []), ((now - last) * 1000) / chunk]);
            started.set(key, now);
            // The last pass only reads the CPU the previous round's chunk led to.
            if (round < rounds) await concurrent(gateway.loads[index] ?? [], chunk, ctx.signal);
          }
        }
        ctx.log(`telemetry: ${load.label} done`);
      }
      // In this process, alternately, so drift falls on both.
      for (let round = 0; round < Math.max(2, Math.round(rounds / 4)); round += 1) {
        for (const [what, spans] of [
          ['REST call (2 spans)', restCallSpans],
          ['/mcp call (2 spans)', mcpCallSpans],
        ] as const) {
          for (const exported of [false, true]) {
            const key = `${what}: ${exported ? 'spans and their export' : 'spans only'}`;
            own.set(key, [...(own.get(key) ?? []), await inProcess(sinkUrl, ctx.options.quick ? 5_000 : 20_000, exported, spans)]);
          }
        }
      }
    } finally {
      for (const gateway of running) {
        for (const callers of gateway.loads) await closeAll(callers);
        await gateway.stop();
      }
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    }
    const rows: string[][] = [];
    const targets: TargetCheck[] = [];
    for (const load of LOADS) {
      const of = (label: string): number[] => cpu.get(`${load.label}\u0000${label}`) ?? [];
      const off = median(of('off'));
      for (const variant of variants) {
        const values = of(variant.label);
        const m = median(values);
        const delta = variant.label === 'off' ? '—' : `${m >= off ? '+' : ''}${fmt(((m - off) / off) * 100, 1)} %`;
        rows.push([load.label, variant.label, fmt(m, 0), `${fmt(Math.min(...values), 0)}–${fmt(Math.max(...values), 0)}`, delta]);
      }
      const on = median(of('on, sample_ratio 1.0'));
      const increase = ((on - off) / off) * 100;
      targets.push({
        goal: `tracing on at 1.0 ≤ +15 % gateway CPU per call (${load.label})`,
        measured: `${increase >= 0 ? '+' : ''}${fmt(increase, 1)} %`,
        pass: increase <= 15,
        margin: `${fmt(Math.abs(15 - increase), 1)} points ${increase <= 15 ? 'under' : 'over'}`,
      });
    }
    const tables: Table[] = [
      {
        title: `Gateway CPU per call by tracing setting (median of ${rounds} interleaved rounds of ${chunk} calls per variant)`,
        columns: ['load', 'tracing', 'gateway CPU µs/call (median)', 'range of rounds', 'vs off'],
        rows,
      },
      {
        title:
          "Tracing's own CPU per call at sample_ratio 1.0, in the bench process (REST: the POST's span, which its routed call shares, with its pool wait, and the backend request; /mcp: the POST's span, which its MCP request and routed call share, and the backend request)",
        columns: ['what', 'µs/call (median)', 'rounds'],
        rows: [...own].map(([what, values]) => [what, fmt(median(values), 1), values.map((v) => fmt(v, 1)).join(', ')]),
      },
      {
        title: 'Idle RSS of the gateway process (3 s after healthy, one demo backend), then its first REST call and the one after it',
        columns: ['tracing', 'RSS MB', 'first call ms', 'second call ms'],
        rows: variants.map((v) => [
          v.label,
          fmt(rss.get(v.label) ?? 0, 1),
          fmt(firstCalls.get(v.label)?.[0] ?? 0, 1),
          fmt(firstCalls.get(v.label)?.[1] ?? 0, 1),
        ]),
      },
    ];
    return {
      tables,
      notes: [
        `Every variant runs with [server] heap = ${heap === undefined ? 'its default' : `"${heap}"`} (STONEGATE_BENCH_OTEL_HEAP). The "on" variants export http/protobuf to a local OTLP/HTTP sink in the bench process (${exports} export requests taken); callers send no traceparent, so at sample_ratio 0 nothing is sampled and no span is made, and at 0.1 a tenth of the calls start a trace. All variants' gateways run at once; "range of rounds" is the lowest and highest round.`,
      ],
      targets,
    };
  },
};
