/*
 * `npm run bench` runs every bench of the registry below; `npm run bench --
 * NAME…` runs those. Each bench is bounded in time, talks over loopback
 * only, and every process it starts is stopped afterwards (and a sweep by
 * marker checks that none is left). Results go to bench/results/NAME.json
 * and bench/RESULTS.md is regenerated from them.
 *
 *   node dist/bench/run.js [NAME…] [--quick] [--no-write] [--list] [--quiet]
 *
 * STONEGATE_BENCH_BIN=/other/build/bin/stonegate.js points every bench at
 * another build of the gateway (same peers, same client) for an A/B.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Bench, BenchContext, BenchReport } from './bench.js';
import { asyncBench } from './benches/async.js';
import { authBench } from './benches/auth.js';
import { backendAbBench } from './benches/backend-ab.js';
import { boardBench } from './benches/board.js';
import { burstBench } from './benches/burst.js';
import { claimsBench } from './benches/claims.js';
import { coordPgBench } from './benches/coord-pg.js';
import { dashboardBench } from './benches/dashboard.js';
import { discoverBench } from './benches/discover.js';
import { fingerprintsBench } from './benches/fingerprints.js';
import { floorBench } from './benches/floor.js';
import { idleBench } from './benches/idle.js';
import { latencyBench } from './benches/latency.js';
import { memoryBench } from './benches/memory.js';
import { profileBench } from './benches/profile.js';
import { pushBench } from './benches/push.js';
import { reloadBench } from './benches/reload.js';
import { rssBench } from './benches/rss.js';
import { startupBench } from './benches/startup.js';
import { telemetryBench } from './benches/telemetry.js';
import { throughputBench } from './benches/throughput.js';
import { tokenExchangeBench } from './benches/token-exchange.js';
import { coordinationBench } from './coord.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { ProcessSet, sweepLeftovers } from './lib/processes.js';
import { saveResult, writeResultsMd } from './lib/results.js';
import { renderTable } from './lib/table.js';

/**
 * The registry: a new bench is one entry (and its import), as the
 * coordination and async-dispatch benches were added. A bench only needs
 * `run(ctx)` returning tables, and gets processes, a temp folder and a time
 * bound from this runner.
 */
export const BENCHES: readonly Bench[] = [
  latencyBench,
  throughputBench,
  discoverBench,
  memoryBench,
  idleBench, // [speed] #30: CPU per idle second
  burstBench, // [speed] #30: bursts after quiet, by heap setting
  startupBench,
  profileBench,
  coordinationBench,
  asyncBench,
  claimsBench,
  boardBench, // the dashboard's coordination board (#29), beside the other coord store bench
  coordPgBench,
  fingerprintsBench, // [pg-speed] shared tool fingerprints
  authBench,
  reloadBench,
  dashboardBench,
  tokenExchangeBench,
  pushBench,
  telemetryBench,
  rssBench,
  floorBench,
  backendAbBench,
];

let current: ProcessSet | undefined;
let listenerWarnings = 0;

/**
 * undici's fetch removes the abort listener it adds to the SDK client
 * transport's one AbortSignal only when the request is garbage collected,
 * so a busy session passes Node's 1,500-listener warning threshold between
 * collections. Printing a warning (with a stack) per call would slow the
 * bench client and flood the output: count them instead.
 */
function quietListenerWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'MaxListenersExceededWarning') listenerWarnings += 1;
    else process.stderr.write(`${warning.name}: ${warning.message}\n`);
  });
}

function onSignal(signal: NodeJS.Signals): void {
  process.stderr.write(`\nbench: ${signal}: stopping every process started\n`);
  current?.killAllNow();
  void sweepLeftovers().finally(() => process.exit(130));
}

async function runOne(bench: Bench, options: BenchContext['options']): Promise<{ report?: BenchReport; seconds: number; error?: Error }> {
  const processes = new ProcessSet();
  current = processes;
  const tmp = mkdtempSync(join(tmpdir(), `stonegate-bench-${bench.name}-`));
  const controller = new AbortController();
  const ctx: BenchContext = {
    options,
    processes,
    tmp,
    signal: controller.signal,
    log: (message) => {
      if (options.verbose) process.stderr.write(`  · ${message}\n`);
    },
  };
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`${bench.name} ran past its bound of ${bench.timeoutMs / 1000} s and was stopped`));
      }, bench.timeoutMs);
    });
    const report = await Promise.race([bench.run(ctx), timeout]);
    return { report, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    return { error: err as Error, seconds: (performance.now() - started) / 1000 };
  } finally {
    clearTimeout(timer);
    await processes.stopAll();
    const left = await sweepLeftovers();
    if (left > 0) process.stderr.write(`bench ${bench.name}: ${left} process(es) outlived their parent and were killed\n`);
    else ctx.log(`${bench.name}: cleanup ok (${processes.started} processes started by the runner, none left)`);
    rmSync(tmp, { recursive: true, force: true });
    current = undefined;
    if (listenerWarnings > 0)
      ctx.log(`${bench.name}: ${listenerWarnings} MaxListenersExceeded warnings of the bench's own fetch clients were counted, not printed`);
    listenerWarnings = 0;
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  if (values.list) {
    for (const b of BENCHES) process.stdout.write(`${b.name.padEnd(12)} ${b.description}\n`);
    return 0;
  }
  const unknown = positionals.filter((name) => !BENCHES.some((b) => b.name === name));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const selected = positionals.length === 0 ? BENCHES : BENCHES.filter((b) => positionals.includes(b.name));
  quietListenerWarnings();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => current?.killAllNow());

  const machine = machineInfo();
  process.stdout.write(`stonegate bench — ${describeMachine(machine)}\n`);
  process.stdout.write('(a shared machine: numbers move between runs; compare ratios within one run)\n\n');
  let failed = 0;
  for (const bench of selected) {
    process.stdout.write(`## ${bench.name}\n\n`);
    const atStart = machineInfo();
    const outcome = await runOne(bench, { quick: values.quick, verbose: !values.quiet });
    if (outcome.report === undefined) {
      failed += 1;
      process.stdout.write(`FAILED after ${outcome.seconds.toFixed(1)} s: ${outcome.error?.stack ?? outcome.error?.message}\n\n`);
      continue;
    }
    for (const table of outcome.report.tables) process.stdout.write(`${renderTable(table)}\n\n`);
    for (const t of outcome.report.targets) process.stdout.write(`target: ${t.goal}: ${t.measured} → ${t.pass ? 'PASS' : 'MISS'} (${t.margin})\n`);
    process.stdout.write(`(${bench.name} took ${outcome.seconds.toFixed(1)} s)\n\n`);
    if (!values['no-write']) saveResult({ bench: bench.name, machine: atStart, seconds: outcome.seconds, quick: values.quick, report: outcome.report });
  }
  if (!values['no-write']) process.stdout.write(`results: ${writeResultsMd(BENCHES)}\n`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    current?.killAllNow();
    process.exit(1);
  },
);
