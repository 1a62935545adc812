import { readFileSync, writeFileSync } from 'node:fs';
import type { Bench, BenchReport } from '../bench.js';
import { fmt, median } from '../lib/stats.js';
import { type DemoBackend, startStonegate, waitHealthy } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';

const BACKENDS = 50;

interface Reloaded {
  ms: number;
  line: { restarted?: string[]; updated?: string[] };
}

/**
 * Issue #28: a gateway serving 50 stdio demo backends reloads its file on
 * SIGHUP. Measured from the signal to the `config reloaded` log line (the
 * change applied: a changed backend restarted and listed again), for a file
 * where one backend's env changed (a restart), one backend's timeout changed
 * (in place), and nothing changed.
 */
export const reloadBench: Bench = {
  name: 'reload',
  description: 'SIGHUP reload of a 50-backend config: one backend changed, one timeout changed, nothing changed',
  timeoutMs: 4 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const runs = ctx.options.quick ? 1 : 5;
    const backends: DemoBackend[] = Array.from({ length: BACKENDS }, (_, i) => ({ name: `b${String(i).padStart(2, '0')}` }));
    const gw = await startStonegate(ctx, { backends, listenTimeoutMs: 60_000 }, 'reload');
    try {
      await waitHealthy(gw.url, 120_000);
      const file = JSON.parse(await (await fetch(`${gw.url}/config`)).text()).file as string;
      const base = readFileSync(file, 'utf8');
      const waiters: ((line: Reloaded['line']) => void)[] = [];
      gw.process.onLine((text) => {
        if (!text.includes('"config reloaded"')) return;
        const line = JSON.parse(text) as Reloaded['line'] & { trigger?: string };
        if (line.trigger === 'signal') waiters.shift()?.(line);
      });
      const reload = async (toml: string): Promise<Reloaded> => {
        writeFileSync(file, toml);
        const seen = new Promise<Reloaded['line']>((resolve) => waiters.push(resolve));
        const t0 = performance.now();
        gw.process.proc.kill('SIGHUP');
        const line = await seen;
        return { ms: performance.now() - t0, line };
      };
      const cases: [string, (i: number) => string, (r: Reloaded) => boolean][] = [
        [
          'one backend changed (env): restarted',
          (i) => base.replace(/(name = "b07"[\s\S]*?env = \{ )/, `$1RUN = "${i}", `),
          (r) => r.line.restarted?.length === 1,
        ],
        [
          'one backend timeout changed: in place',
          (i) => base.replace('name = "b08"', `name = "b08"\ntimeout = ${10_000 + i}`),
          (r) => r.line.updated?.length === 1,
        ],
        ['nothing changed', () => base, () => true],
      ];
      const rows: string[][] = [];
      for (const [label, edit, check] of cases) {
        const times: number[] = [];
        for (let i = 0; i < runs; i += 1) {
          const result = await reload(edit(i + 1));
          if (!check(result)) throw new Error(`reload bench: ${label}: unexpected result ${JSON.stringify(result.line)}`);
          times.push(result.ms);
          // Back to the base file, so that each run changes one backend again.
          if (label !== 'nothing changed') await reload(base);
        }
        ctx.log(`reload: ${label}: median ${fmt(median(times), 1)} ms`);
        rows.push([label, fmt(median(times), 1), `${fmt(Math.min(...times), 1)}–${fmt(Math.max(...times), 1)}`]);
      }
      const table: Table = {
        title: `Reload of a ${BACKENDS}-backend stonegate.toml on SIGHUP, from the signal to \`config reloaded\` (median of ${runs})`,
        columns: ['the file', 'median ms', 'range ms'],
        rows,
      };
      return {
        tables: [table],
        notes: [
          `${BACKENDS} stdio demo backends; a restarted backend counts as applied once its new process answered and its tools are listed again. The other backends keep their processes.`,
        ],
        targets: [],
      };
    } finally {
      await gw.stop();
    }
  },
};
