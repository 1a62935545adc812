import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bench, BenchReport } from '../bench.js';
import { cpuTimeMs, memoryOf } from '../lib/processes.js';
import { fmt } from '../lib/stats.js';
import { type RunningStonegate, startStonegate, waitHealthy } from '../lib/stonegate.js';

/** A guide, not one of issue #30's targets (it sets none for idle CPU): CPU of the gateway process per idle second, embedded defaults. */
const TARGET_MS_PER_S = 5;
const NAMES = Array.from({ length: 10 }, (_, i) => `demo${i}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);

interface Setup {
  label: string;
  build: string;
  config: 'defaults' | '10 backends';
  gateway: RunningStonegate;
}

/**
 * [speed] #30: what an idle gateway costs the machine. Every gateway (the
 * embedded defaults, i.e. an empty config: coordination on, no backend;
 * and 10 demo backends; of this build and, with
 * STONEGATE_BENCH_BASE_BIN=<build>/bin/stonegate.js, of that one too) is
 * started, left alone past its start (STONEGATE_IDLE_SETTLE_S, 25 s: the
 * start-up heap sizing ends within 10 s, the event loop's delay sampling
 * 10 s after the start's work) and then measured idle all at the same time
 * over STONEGATE_IDLE_S (60 s): CPU of the gateway process (every thread,
 * to the nanosecond; not its backends) per second, and RSS.
 */
export const idleBench: Bench = {
  name: 'idle',
  description: 'CPU per idle second of the gateway process (embedded defaults; 10 backends), this build and optionally STONEGATE_BENCH_BASE_BIN, side by side',
  timeoutMs: 10 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const settleS = seconds('STONEGATE_IDLE_SETTLE_S', ctx.options.quick ? 12 : 25);
    const idleS = seconds('STONEGATE_IDLE_S', ctx.options.quick ? 10 : 60);
    const empty = join(ctx.tmp, 'empty.toml');
    writeFileSync(empty, '# the embedded defaults: every key at its default\n');
    const builds: [string, string | undefined][] = [['this build', undefined]];
    if (process.env.STONEGATE_BENCH_BASE_BIN !== undefined) builds.push(['base', process.env.STONEGATE_BENCH_BASE_BIN]);
    const setups: Setup[] = [];
    try {
      for (const [build, bin] of builds) {
        for (const config of ['defaults', '10 backends'] as const) {
          const options = config === 'defaults' ? { configFile: empty, bin } : { backends: NAMES.map((name) => ({ name })), bin };
          const label = `idle-${build === 'base' ? 'base' : 'this'}-${config === 'defaults' ? 'defaults' : 'ten'}`;
          const gateway = await startStonegate(ctx, options, label);
          await waitHealthy(gateway.url, 60_000);
          setups.push({ label, build, config, gateway });
        }
      }
      ctx.log(`idle: ${setups.length} gateways up; ${settleS} s to settle, then ${idleS} s measured`);
      await sleep(settleS * 1000);
      const before = setups.map((s) => cpuTimeMs(s.gateway.pid));
      const start = performance.now();
      await sleep(idleS * 1000);
      const elapsedS = (performance.now() - start) / 1000;
      const rows = setups.map((s, i) => {
        const perS = (cpuTimeMs(s.gateway.pid) - (before[i] as number)) / elapsedS;
        return { ...s, perS, rss: memoryOf(s.gateway.pid).rssMb };
      });
      const mine = rows.find((r) => r.build === 'this build' && r.config === 'defaults');
      return {
        tables: [
          {
            title: `Idle gateway: CPU of the gateway process per second over ${fmt(elapsedS, 0)} s, all measured at the same time`,
            columns: ['build', 'config', 'CPU ms per idle s', 'RSS MB'],
            leftColumns: [0, 1],
            rows: rows.map((r) => [r.build, r.config, fmt(r.perS, 2), fmt(r.rss, 1)]),
          },
        ],
        notes: [
          `Each gateway was left ${settleS} s after /health said ok before the measure (the start-up sizing and the first work end meanwhile). "defaults" serves an empty config file: the embedded defaults, coordination on, no backend. The backends are separate processes and not counted.`,
          'Every figure shares the machine with the others of the same run: compare rows of one run, and read the load beside it.',
        ],
        targets: [
          {
            goal: `idle CPU with the embedded defaults ≤ ${TARGET_MS_PER_S} ms per second`,
            measured: `${fmt(mine?.perS ?? Number.NaN, 2)} ms/s`,
            pass: (mine?.perS ?? Number.POSITIVE_INFINITY) <= TARGET_MS_PER_S,
            margin: `${fmt(TARGET_MS_PER_S - (mine?.perS ?? Number.NaN), 2)} ms/s to spare`,
          },
        ],
      };
    } finally {
      await Promise.all(setups.map((s) => s.gateway.stop()));
    }
  },
};
