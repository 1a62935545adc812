import type { Bench, BenchReport } from '../bench.js';
import { concurrent } from '../lib/load.js';
import { cpuTimeMs } from '../lib/processes.js';
import { fmt, median } from '../lib/stats.js';
import { type RunningStonegate, startStonegate, waitHealthy } from '../lib/stonegate.js';
import { type Caller, closeAll, restTarget } from '../lib/targets.js';

/*
 * [speed] #30: bursts after quiet. Agents' traffic comes in bursts; under
 * [server] heap = "balanced" (the default) a gateway that has been quiet for
 * 10 s hands memory back and runs with the idle heap sizing (a small young
 * generation, --optimize-for-size) until the load watch sees load again
 * (src/cli/heap.ts, src/load-watch.ts). This bench prices that: one gateway
 * per heap setting, warmed, then rounds of STONEGATE_BURST_QUIET_S (14 s) of
 * quiet followed by a burst of STONEGATE_BURST_CALLS (2,000) REST calls on
 * 16 keep-alive clients and, right after, 3× as many calls: the gateway's
 * CPU per call of the burst and of the calls after it, median of rounds.
 * The setups share each quiet period and go one after the other in each
 * burst, in the other order every round. STONEGATE_BENCH_BASE_BIN=<another
 * build>/bin/stonegate.js adds that build at `balanced` (an A/B of the load
 * watch in one run).
 */

const HEAPS = ['balanced', 'fast'] as const;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Setup {
  label: string;
  gateway: RunningStonegate;
  callers: Caller[];
  burst: number[];
  after: number[];
}

export const burstBench: Bench = {
  name: 'burst',
  description: 'gateway CPU per call of a burst of REST calls after 14 s of quiet, and of the calls after it, by [server] heap',
  timeoutMs: 10 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const quietS = Number(process.env.STONEGATE_BURST_QUIET_S ?? 14);
    const calls = Number(process.env.STONEGATE_BURST_CALLS ?? 2000);
    const rounds = ctx.options.quick ? 2 : 5;
    const setups: Setup[] = [];
    try {
      const base = process.env.STONEGATE_BENCH_BASE_BIN;
      const variants: { label: string; heap: (typeof HEAPS)[number]; bin?: string }[] = HEAPS.map((heap) => ({ label: heap, heap }));
      if (base !== undefined) variants.push({ label: `balanced, ${base}`, heap: 'balanced', bin: base });
      for (const { label, heap, bin } of variants) {
        const gateway = await startStonegate(ctx, { poolMax: 1, heap, ...(bin === undefined ? {} : { bin }) }, `burst-${setups.length}`);
        await waitHealthy(gateway.url, 30_000);
        const callers = await restTarget('REST', gateway.url).open(16);
        await concurrent(callers, 5000, ctx.signal); // warm-up: the serving JIT and the busy heap sizing once
        setups.push({ label, gateway, callers, burst: [], after: [] });
      }
      for (let round = 0; round < rounds; round += 1) {
        await sleep(quietS * 1000);
        for (const setup of round % 2 === 0 ? setups : [...setups].reverse()) {
          const start = cpuTimeMs(setup.gateway.pid);
          await concurrent(setup.callers, calls, ctx.signal);
          const mid = cpuTimeMs(setup.gateway.pid);
          await concurrent(setup.callers, calls * 3, ctx.signal);
          setup.burst.push(((mid - start) * 1000) / calls);
          setup.after.push(((cpuTimeMs(setup.gateway.pid) - mid) * 1000) / (calls * 3));
        }
        ctx.log(`burst: round ${round + 1} of ${rounds}`);
      }
      const perCall = (values: number[]): string => fmt(median(values), 0);
      return {
        tables: [
          {
            title: `Gateway CPU per call (µs): ${calls.toLocaleString('en-US')} REST calls on 16 clients after ${quietS} s of quiet, then ${(calls * 3).toLocaleString('en-US')} more (median of ${rounds} rounds)`,
            columns: ['[server] heap', 'burst after quiet', 'calls after the burst', 'burst ÷ after', 'burst rounds'],
            leftColumns: [0],
            rows: setups.map((s) => [
              s.label,
              perCall(s.burst),
              perCall(s.after),
              fmt(median(s.burst) / median(s.after), 2),
              s.burst.map((v) => fmt(v, 0)).join(' / '),
            ]),
          },
        ],
        notes: ['Every setup shares the machine with the others: compare rows of one run.'],
        targets: [],
      };
    } finally {
      await Promise.all(setups.map((s) => closeAll(s.callers)));
      await Promise.all(setups.map((s) => s.gateway.stop()));
    }
  },
};
