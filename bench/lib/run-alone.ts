import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bench, BenchContext } from '../bench.js';
import { ProcessSet, sweepLeftovers } from './processes.js';
import { renderTable } from './table.js';

/**
 * Runs `bench` on its own when its module (`moduleUrl`, its import.meta.url)
 * is the script node was started with (`node dist/bench/benches/X.js
 * [--quick]`): its tables and notes on stdout, then every process it
 * started stopped and its scratch directory removed.
 */
export function runAlone(bench: Bench, moduleUrl: string): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const tmp = mkdtempSync(join(tmpdir(), `stonegate-${bench.name}-bench-`));
  const processes = new ProcessSet();
  const ctx: BenchContext = {
    options: { quick: process.argv.includes('--quick'), verbose: false },
    processes,
    tmp,
    log: (m: string) => process.stderr.write(`${m}\n`),
    signal: new AbortController().signal,
  };
  bench
    .run(ctx)
    .then((report) => process.stdout.write(`${[...report.tables.map(renderTable), ...report.notes].join('\n\n')}\n`))
    .catch((err: unknown) => {
      process.stderr.write(`${bench.name} bench: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    })
    .finally(async () => {
      await processes.stopAll();
      await sweepLeftovers();
      rmSync(tmp, { recursive: true, force: true });
    });
}
