import type { Bench, BenchReport } from '../bench.js';
import { LeanPool } from '../lib/lean-http.js';
import { type Call, leanCallers, type Surface } from '../lib/lean-mcp.js';
import { cpuTimeMs, descendants } from '../lib/processes.js';
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

async function drive(calls: Call[], total: number, signal: AbortSignal): Promise<void> {
  let next = 0;
  await Promise.all(
    calls.map(async (call) => {
      while (next < total) {
        next += 1;
        if (signal.aborted) throw new Error('bench time bound reached');
        await call();
      }
    }),
  );
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
            Number.isNaN(baseline) ? '—' : `${fmt((median(mine) / baseline - 1) * 100, 1)} %`,
          ];
        }),
      );
      const table: Table = {
        title: `Gateway CPU per call at ${CLIENTS} concurrent clients, ${rounds} interleaved rounds of ${calls.toLocaleString('en-US')} calls (µs)`,
        columns: ['build', 'surface', 'gateway µs (median)', 'gateway µs (best)', 'backend µs (median)', 'vs base'],
        leftColumns: [0, 1],
        rows,
      };
      return {
        tables: [table],
        notes: [
          `Builds: this one${base === undefined ? '' : ` and ${base}`}; pool max 1, one demo backend over stdio each, heap ${heap ?? 'as shipped'}. CPU from /proc (user + system, 10 ms ticks).`,
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
