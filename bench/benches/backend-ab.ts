import { spawn } from 'node:child_process';
import { z } from 'zod';
import { silentLogger } from '../../src/log.js';
import { BackendClient } from '../../src/pool/backend-client.js';
import { Deadline, NO_SDK_TIMEOUT } from '../../src/router/deadline.js';
import { LineTransport } from '../../src/supervisor/line-transport.js';
import type { Bench, BenchContext, BenchReport } from '../bench.js';
import { LeanPool } from '../lib/lean-http.js';
import { type Call, drive, leanCallers, type Surface } from '../lib/lean-mcp.js';
import { DEMO, NODE, ROOT } from '../lib/paths.js';
import { cpuTimeMs, descendants, MARKER, MARKER_VAR } from '../lib/processes.js';
import { fmt, median } from '../lib/stats.js';
import { type RunningStonegate, startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';

/*
 * An A/B of the backend path in one run: this build and another one
 * (STONEGATE_BENCH_BASE_BIN=<build>/bin/stonegate.js, typically main) run
 * side by side, each with the demo backend over stdio, and are driven in
 * interleaved rounds (A, B, A, B, …) by the same lean keep-alive client at
 * 16 concurrent callers, REST and /mcp (2025 sessions). Per round: the
 * gateway's own CPU per call and its backend's; the table gives the median
 * over rounds, so load from other work on the machine falls on both builds
 * alike. Without STONEGATE_BENCH_BASE_BIN only this build is measured.
 */

const CLIENTS = 16;
const SURFACES: readonly Surface[] = ['REST', '/mcp 2025 sessions'];

interface Target {
  label: string;
  gateway: RunningStonegate;
  pool: LeanPool;
  callers: Map<Surface, { calls: Call[]; close(): Promise<void> }>;
}

function backendCpu(pid: number): number {
  let ms = 0;
  for (const child of descendants(pid)) {
    try {
      ms += cpuTimeMs(child);
    } catch {
      // gone
    }
  }
  return ms;
}

/**
 * The backend link alone, in this process: one stdio link to the demo
 * backend (LineTransport and the gateway's SDK client), 16 tools/call in
 * flight, sent through the SDK client's request() or the lean path
 * (src/supervisor/lean-calls.ts) in interleaved rounds; this process's CPU
 * per call (the gateway's side of the link, nothing of HTTP).
 */
async function linkRounds(ctx: BenchContext, rounds: number, calls: number): Promise<Table> {
  const child = spawn(NODE, [DEMO], { cwd: ROOT, env: { ...process.env, [MARKER_VAR]: MARKER }, stdio: ['pipe', 'pipe', 'ignore'] });
  const transport = new LineTransport({ input: child.stdout, output: child.stdin, logger: silentLogger(), maxLineBytes: 1 << 26 });
  const client = new BackendClient({ name: 'stonegate-bench', version: '1' }, { capabilities: {} });
  try {
    await client.connect(transport);
    const Passthrough = z.looseObject({});
    const params = { name: 'echo', arguments: { text: 'soak' } };
    // Each call with a gateway deadline, as the router makes one (router/deadline.ts).
    const timed = async (send: (deadline: Deadline) => Promise<unknown>): Promise<void> => {
      const deadline = new Deadline(30_000, 30_000);
      try {
        await send(deadline);
      } finally {
        deadline.clear();
      }
    };
    const paths: [string, () => Promise<unknown>][] = [
      [
        'SDK client request(), deadline signal',
        () => timed((d) => client.request({ method: 'tools/call', params }, Passthrough, { signal: d.signal, timeout: NO_SDK_TIMEOUT })),
      ],
      ['lean path, deadline signal', () => timed((d) => transport.lean.request('tools/call', params, d.signal))],
      ['lean path, the deadline itself (as router.ts)', () => timed((d) => transport.lean.request('tools/call', params, d))],
    ];
    const samples = paths.map(() => [] as number[]);
    const run = async (send: () => Promise<unknown>, total: number): Promise<void> => {
      let next = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (next < total) {
            next += 1;
            if (ctx.signal.aborted) throw new Error('bench time bound reached');
            await send();
          }
        }),
      );
    };
    for (const [, send] of paths) await run(send, 2_000); // warm-up
    for (let round = 0; round < rounds; round += 1) {
      for (const [i, [, send]] of (round % 2 === 0 ? paths : [...paths].reverse()).entries()) {
        const at = round % 2 === 0 ? i : paths.length - 1 - i;
        const before = process.cpuUsage();
        await run(send, calls);
        const used = process.cpuUsage(before);
        samples[at]?.push((used.user + used.system) / calls);
      }
    }
    const sdk = median(samples[0] ?? []);
    return {
      title: `The backend link alone (this process, one stdio link to the demo backend, ${CLIENTS} in flight): CPU per tools/call, ${rounds} interleaved rounds of ${calls.toLocaleString('en-US')} calls (µs)`,
      columns: ['path', 'µs (median)', 'µs (best)', 'vs SDK'],
      leftColumns: [0],
      rows: paths.map(([name], i) => {
        const mine = samples[i] ?? [];
        return [name, fmt(median(mine), 1), fmt(Math.min(...mine), 1), i === 0 ? '—' : `${fmt((median(mine) / sdk - 1) * 100, 1)} %`];
      }),
    };
  } finally {
    await client.close().catch(() => undefined);
    child.kill();
  }
}

export const backendAbBench: Bench = {
  name: 'backend-ab',
  description: 'A/B of the backend path: this build against STONEGATE_BENCH_BASE_BIN, interleaved rounds, gateway CPU per call (REST, /mcp)',
  timeoutMs: 20 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const rounds = ctx.options.quick ? 2 : 7;
    const calls = ctx.options.quick ? 1_000 : 4_000;
    const heap = process.env.STONEGATE_BENCH_HEAP === 'fast' ? 'fast' : undefined;
    const builds: { label: string; bin?: string }[] = [{ label: 'this build' }];
    const base = process.env.STONEGATE_BENCH_BASE_BIN;
    if (base !== undefined) builds.push({ label: 'base', bin: base });
    const targets: Target[] = [];
    const link = await linkRounds(ctx, rounds, calls * 5);
    ctx.log('backend-ab: link rounds done');
    if (process.env.STONEGATE_BENCH_LINK_ONLY === '1') return { tables: [link], notes: [], targets: [] };
    try {
      for (const build of builds) {
        const gateway = await startStonegate(
          ctx,
          { poolMax: 1, ...(heap === undefined ? {} : { heap }), ...(build.bin === undefined ? {} : { bin: build.bin }) },
          `ab-${targets.length}`,
        );
        targets.push({ label: build.label, gateway, pool: new LeanPool(gateway.url), callers: new Map() });
        await waitHealthy(gateway.url, 30_000);
      }
      for (const t of targets) for (const s of SURFACES) t.callers.set(s, await leanCallers(t.pool, s, CLIENTS));
      // samples[target][surface] = per-round µs per call (gateway, backend)
      const own = targets.map(() => SURFACES.map(() => [] as number[]));
      const child = targets.map(() => SURFACES.map(() => [] as number[]));
      // One sequential caller (a call at a time: the pool's idle-to-busy path every call): latency in ms.
      const seq = targets.map(() => SURFACES.map(() => [] as number[]));
      for (const t of targets) for (const s of SURFACES) await drive(t.callers.get(s)?.calls ?? [], 1_000, ctx.signal); // warm-up
      for (let round = 0; round < rounds; round += 1) {
        for (const [si, surface] of SURFACES.entries()) {
          // Alternate which build goes first, so neither always follows the other.
          const order = round % 2 === 0 ? targets.map((_, i) => i) : targets.map((_, i) => i).reverse();
          for (const ti of order) {
            const t = targets[ti] as Target;
            const pid = t.gateway.pid;
            const own0 = cpuTimeMs(pid);
            const child0 = backendCpu(pid);
            await drive(t.callers.get(surface)?.calls ?? [], calls, ctx.signal);
            own[ti]?.[si]?.push(((cpuTimeMs(pid) - own0) * 1000) / calls);
            child[ti]?.[si]?.push(((backendCpu(pid) - child0) * 1000) / calls);
            const one = t.callers.get(surface)?.calls[0];
            for (let i = 0; one !== undefined && i < calls / 8; i += 1) {
              const t0 = performance.now();
              await one();
              seq[ti]?.[si]?.push(performance.now() - t0);
            }
          }
        }
        ctx.log(`backend-ab: round ${round + 1}/${rounds} done`);
      }
      const rows = targets.flatMap((t, ti) =>
        SURFACES.map((s, si) => {
          const mine = own[ti]?.[si] ?? [];
          const baseline = targets.length > 1 && ti === 0 ? median(own[1]?.[si] ?? []) : Number.NaN;
          return [
            t.label,
            s,
            fmt(median(mine), 0),
            fmt(Math.min(...mine), 0),
            fmt(median(child[ti]?.[si] ?? []), 0),
            fmt(median(seq[ti]?.[si] ?? []), 3),
            Number.isNaN(baseline) ? '—' : `${fmt((median(mine) / baseline - 1) * 100, 1)} %`,
          ];
        }),
      );
      const table: Table = {
        title: `Gateway CPU per call at ${CLIENTS} concurrent clients, ${rounds} interleaved rounds of ${calls.toLocaleString('en-US')} calls (µs)`,
        columns: ['build', 'surface', 'gateway µs (median)', 'gateway µs (best)', 'backend µs (median)', 'sequential p50 ms', 'CPU vs base'],
        leftColumns: [0, 1],
        rows,
      };
      return {
        tables: [link, table],
        notes: [
          `Builds: this one${base === undefined ? '' : ` and ${base}`}; pool max 1, one demo backend over stdio each, heap ${heap ?? 'as shipped'}. CPU from /proc (each thread's schedstat run time, in ns).`,
        ],
        targets: [],
      };
    } finally {
      for (const t of targets) {
        for (const c of t.callers.values()) await c.close().catch(() => undefined);
        t.pool.close();
        await t.gateway.stop();
      }
    }
  },
};
