import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bench, BenchReport, TargetCheck } from '../bench.js';
import { concurrent } from '../lib/load.js';
import { cpuTimeMs, memoryOf } from '../lib/processes.js';
import { fmt, median } from '../lib/stats.js';
import { startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';
import { closeAll, restTarget, streamableTarget, type Target } from '../lib/targets.js';

/*
 * [otel] What tracing costs the gateway: CPU per call with [telemetry] off,
 * on at sample_ratio 0 (spans made, none recorded) and on at 1.0 (every
 * span exported to an OTLP/HTTP sink in this process), interleaved round by
 * round so that the shared machine's drift falls on every variant alike.
 * STONEGATE_BENCH_BASE_BIN=<another build>/bin/stonegate.js adds that build
 * (the parent commit) as a fourth variant, for "off within noise".
 */

interface Variant {
  label: string;
  toml: (sink: string) => string;
  bin?: string;
}

const LOADS: readonly { label: string; target: (url: string) => Target }[] = [
  { label: 'REST POST /call, 16 concurrent', target: (url) => restTarget('REST', url) },
  { label: '/mcp tools/call, 16 sessions', target: (url) => streamableTarget('/mcp', `${url}/mcp`, ['demo__echo']) },
];

export const telemetryBench: Bench = {
  name: 'telemetry',
  description: 'gateway CPU per call with tracing off, on at sample_ratio 0 and 1.0 (OTLP/HTTP to a local sink), interleaved; idle RSS on and off',
  timeoutMs: 40 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const calls = ctx.options.quick ? 500 : 1_500;
    const rounds = ctx.options.quick ? 1 : 2;
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
    const variants: Variant[] = [
      ...(process.env.STONEGATE_BENCH_BASE_BIN === undefined ? [] : [{ label: 'parent commit', toml: () => '', bin: process.env.STONEGATE_BENCH_BASE_BIN }]),
      { label: 'off', toml: () => '' },
      { label: 'on, sample_ratio 0', toml: (url) => `[telemetry]\nenabled = true\notlp_endpoint = "${url}"\nsample_ratio = 0\n` },
      { label: 'on, sample_ratio 1.0', toml: (url) => `[telemetry]\nenabled = true\notlp_endpoint = "${url}"\nsample_ratio = 1.0\n` },
    ];
    const cpu = new Map<string, number[]>();
    const rss = new Map<string, number[]>();
    try {
      for (let round = 0; round < rounds; round += 1) {
        for (const variant of variants) {
          const gateway = await startStonegate(
            ctx,
            // V8's default heap sizing for every variant ([server] heap = "fast"; a parent build without the key has it), so only tracing differs.
            { poolMax: 1, extraToml: variant.toml(sinkUrl), ...(variant.bin === undefined ? { heap: 'fast' as const } : { bin: variant.bin }) },
            `stonegate-otel-${round}`,
          );
          try {
            await waitHealthy(gateway.url, 30_000);
            // Idle: 3 s after healthy, before any call (as the memory bench).
            await new Promise((resolve) => setTimeout(resolve, 3000));
            rss.set(variant.label, [...(rss.get(variant.label) ?? []), memoryOf(gateway.pid).rssMb]);
            for (const load of LOADS) {
              const callers = await load.target(gateway.url).open(16);
              try {
                await concurrent(callers, 500, ctx.signal);
                const before = cpuTimeMs(gateway.pid);
                await concurrent(callers, calls, ctx.signal);
                const key = `${load.label}\u0000${variant.label}`;
                cpu.set(key, [...(cpu.get(key) ?? []), ((cpuTimeMs(gateway.pid) - before) * 1000) / calls]);
              } finally {
                await closeAll(callers);
              }
            }
          } finally {
            await gateway.stop();
          }
          ctx.log(`telemetry: round ${round + 1}, ${variant.label} done`);
        }
      }
    } finally {
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
        rows.push([load.label, variant.label, fmt(m, 0), values.map((v) => fmt(v, 0)).join(', '), delta]);
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
        title: `Gateway CPU per call by tracing setting (median of ${rounds} interleaved rounds; ${calls.toLocaleString('en-US')} calls each)`,
        columns: ['load', 'tracing', 'gateway CPU µs/call', 'rounds', 'vs off'],
        rows,
      },
      {
        title: 'Idle RSS of the gateway process (3 s after healthy, one demo backend)',
        columns: ['tracing', 'RSS MB (median)', 'rounds'],
        rows: variants.map((v) => [v.label, fmt(median(rss.get(v.label) ?? []), 1), (rss.get(v.label) ?? []).map((r) => fmt(r, 1)).join(', ')]),
      },
    ];
    return {
      tables,
      notes: [
        `The "on" variants export http/protobuf to a local OTLP/HTTP sink in the bench process (${exports} export requests taken); callers send no traceparent, so sample_ratio 0 makes non-recording spans only.`,
      ],
      targets,
    };
  },
};
