/*
 * Soak: many calls through a real gateway whose backends crash, hang, fail
 * and write junk at random, then a check that the gateway is back where it
 * started — same child processes, same file descriptors, flat heap and RSS.
 * Not a test: a script for people, bounded in time, loopback only.
 *
 *   node dist/bench/soak.js [--calls N] [--concurrency C] [--max-seconds S] [--seed X] [--log FILE]
 *
 * --log FILE keeps the gateway's log (warn and above) in FILE.
 *
 * Exits 1 when the gateway's children or fds are not back to their count
 * before the run, or when a call hung past its client-side bound.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pick, random } from './soak-mix.js';
import { childCount, fdCount, markedProcesses, rssMb } from './soak-proc.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'stonegate.js');
const DEMO = join(ROOT, 'dist', 'backends', 'demo', 'server.js');
const fixture = (name: string): string => join(ROOT, 'dist', 'test', 'fixtures', `${name}.js`);
const q = (s: string): string => JSON.stringify(s);

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16' },
    'max-seconds': { type: 'string', default: '300' },
    seed: { type: 'string', default: '1' },
    log: { type: 'string' },
  },
});
const CALLS = Number(values.calls);
const CONCURRENCY = Number(values.concurrency);
const MAX_MS = Number(values['max-seconds']) * 1000;
const CALL_BOUND_MS = 15_000;

interface Footprint {
  children: number;
  fds: number;
  heapUsedMb: number;
  heapTotalMb: number;
  rssMb: number;
}

// ---- the gateway ----

interface Gateway {
  proc: ChildProcess;
  url: string;
  port: number;
  /** Garbage-collects in the gateway and returns its memory (the probe preloaded below). */
  memory(): Promise<{ heapUsed: number; heapTotal: number }>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A free loopback port (the gateway logs at error level only, so it cannot tell us its port). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Polls until `url` answers, or the process exits, or 20 s pass. */
async function untilServing(url: string, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the gateway exited (${proc.exitCode ?? proc.signalCode}) before serving`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error('the gateway did not serve within 20 s');
}

async function startGateway(dir: string, marker: string): Promise<Gateway> {
  const config = join(dir, 'stonegate.toml');
  const env = `env = { STONEGATE_SOAK = ${q(marker)} }`;
  writeFileSync(
    config,
    `
[logging]
level = "warn"

[gateway]
call_log_size = 100
max_sessions_per_client = 10000  # every soak client comes from 127.0.0.1
admin_reserve = 0

[circuit_breaker]
reset_timeout = 0.5

[supervisor]
restart_backoff_min = 50
restart_backoff_max = 400
crash_loop_restarts = 100000
health_interval = 0.5
health_timeout = 1000

[[backends]]
name = "demo"
command = "node"
args = [${q(DEMO)}]
pool = { min = 1, max = 2, idle_timeout = 2 }
${env}

[[backends]]
name = "crashy"
command = "node"
args = [${q(DEMO)}]
${env}

[[backends]]
name = "hang"
command = "node"
args = [${q(fixture('hang-server'))}]
timeout = 200
${env}

[[backends]]
name = "flaky"
command = "node"
args = [${q(fixture('flaky-server'))}]
env = { STONEGATE_SOAK = ${q(marker)}, FAIL_EVERY = "5" }

[[backends]]
name = "garbage"
command = "node"
args = [${q(fixture('garbage-server'))}]
${env}
`,
  );
  // A preloaded probe: on SIGUSR2 the gateway collects garbage and prints its heap on stderr.
  const probe = join(dir, 'probe.mjs');
  writeFileSync(
    probe,
    // Two collections apart: finalizers that run after the first (undici's
    // cleanup of request signals) free more for the second.
    "process.on('SIGUSR2', () => { globalThis.gc?.(); setTimeout(() => { globalThis.gc?.(); const m = process.memoryUsage(); process.stderr.write('SOAK_MEMORY ' + JSON.stringify(m) + '\\n'); }, 500); });\n",
  );
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    ['--expose-gc', '--import', pathToFileURL(probe).href, BIN, 'serve', '-c', config, '--port', String(port), '--data-dir', join(dir, 'data')],
    {
      cwd: ROOT,
      env: { ...process.env, STONEGATE_SOAK: marker },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const memoryWaiters: ((m: { heapUsed: number; heapTotal: number }) => void)[] = [];
  const stderr: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    if (line.startsWith('SOAK_MEMORY ')) memoryWaiters.shift()?.(JSON.parse(line.slice(12)) as { heapUsed: number; heapTotal: number });
    else stderr.push(line);
  });
  if (values.log !== undefined) proc.stdout?.pipe(createWriteStream(values.log));
  else proc.stdout?.resume();
  const url = `http://127.0.0.1:${port}`;
  await untilServing(url, proc).catch((err: Error) => {
    throw new Error(`${err.message}: ${stderr.slice(-10).join('\n')}`);
  });
  return {
    proc,
    url,
    port,
    memory: () =>
      new Promise((resolve) => {
        memoryWaiters.push(resolve);
        proc.kill('SIGUSR2');
      }),
  };
}

interface ServerRow {
  name: string;
  status: string;
  last_error: string | null;
  pid: number | null;
  restarts: number;
  circuit: string;
  pool: { size: number; inflight: number; pending: number };
}

async function servers(gw: Gateway): Promise<ServerRow[]> {
  const response = await fetch(`${gw.url}/server/list`);
  return ((await response.json()) as { servers: ServerRow[] }).servers;
}

/** Waits until every backend runs with nothing in flight and every circuit is closed (or 20 s pass). */
async function quiesce(gw: Gateway, names: readonly string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const rows = (await servers(gw)).filter((r) => names.includes(r.name));
    if (rows.every((r) => r.status === 'running' && r.pool.inflight === 0 && r.pool.pending === 0 && r.circuit === 'closed')) return;
    await sleep(200);
  }
}

async function footprint(gw: Gateway): Promise<Footprint> {
  const pid = gw.proc.pid ?? -1;
  const memory = await gw.memory();
  return {
    children: childCount(pid),
    fds: fdCount(pid, gw.port),
    heapUsedMb: memory.heapUsed / 2 ** 20,
    heapTotalMb: memory.heapTotal / 2 ** 20,
    rssMb: rssMb(pid),
  };
}

// ---- the load ----

interface Tally {
  ok: number;
  isError: number;
  byCode: Map<string, number>;
  byLabel: Map<string, Map<string, number>>;
  hung: number;
  issued: number;
  /** One error message per code, to read what happened. */
  samples: Map<string, string>;
}

async function load(gw: Gateway, calls: number, next: () => number, deadline: number, tally: Tally): Promise<void> {
  const count = (label: string, outcome: string): void => {
    const m = tally.byLabel.get(label) ?? new Map<string, number>();
    m.set(outcome, (m.get(outcome) ?? 0) + 1);
    tally.byLabel.set(label, m);
  };
  const worker = async (): Promise<void> => {
    while (tally.issued < calls && Date.now() < deadline) {
      tally.issued += 1;
      const p = pick(next);
      try {
        const response = await fetch(`${gw.url}/call`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ server: p.server, tool: p.tool, arguments: p.args }),
          signal: AbortSignal.timeout(CALL_BOUND_MS),
        });
        const body = (await response.json()) as { code?: string; error?: string; result?: { isError?: boolean } };
        if (response.ok) {
          const outcome = body.result?.isError === true ? 'isError' : 'ok';
          if (outcome === 'ok') tally.ok += 1;
          else tally.isError += 1;
          count(p.label, outcome);
        } else {
          const code = body.code ?? `HTTP ${response.status}`;
          tally.byCode.set(code, (tally.byCode.get(code) ?? 0) + 1);
          if (!tally.samples.has(`${p.label}: ${code}`)) tally.samples.set(`${p.label}: ${code}`, body.error ?? '');
          count(p.label, code);
        }
      } catch (err) {
        tally.hung += 1;
        count(p.label, `client: ${(err as Error).name}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
}

function newTally(): Tally {
  return { ok: 0, isError: 0, byCode: new Map(), byLabel: new Map(), hung: 0, issued: 0, samples: new Map() };
}

async function main(): Promise<number> {
  const started = Date.now();
  const deadline = started + MAX_MS;
  const marker = `soak-${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-soak-'));
  let gw: Gateway | undefined;
  const cleanup = async (): Promise<void> => {
    if (gw !== undefined && gw.proc.exitCode === null && gw.proc.signalCode === null) {
      const exited = new Promise((resolve) => gw?.proc.once('exit', resolve));
      gw.proc.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (gw.proc.exitCode === null && gw.proc.signalCode === null) gw.proc.kill('SIGKILL');
    }
    for (const pid of markedProcesses(marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  const names = ['demo', 'crashy', 'hang', 'flaky', 'garbage'];
  try {
    gw = await startGateway(dir, marker);
    await quiesce(gw, names);
    const next = random(Number(values.seed));
    // Warm-up: the same mix, so caches, JIT and pools settle before "before".
    await load(gw, Math.min(500, CALLS), next, deadline, newTally());
    await quiesce(gw, names);
    await sleep(3_000); // as after the run: idle reaping (demo: idle_timeout 2 s)
    await quiesce(gw, names);
    const before = await footprint(gw);

    const tally = newTally();
    const loadStarted = Date.now();
    await load(gw, CALLS, next, deadline, tally);
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    await quiesce(gw, names);
    await sleep(3_000); // idle reaping (demo: idle_timeout 2 s) and stderr drain
    await quiesce(gw, names);
    const after = await footprint(gw);
    const rows = await servers(gw);

    const out = (line: string): boolean => process.stdout.write(`${line}\n`);
    out(
      `soak: ${tally.issued} calls in ${loadSeconds.toFixed(1)} s (${Math.round(tally.issued / loadSeconds)}/s), concurrency ${CONCURRENCY}, seed ${values.seed}`,
    );
    out(
      `  ok ${tally.ok}   isError results ${tally.isError}   failed ${[...tally.byCode.values()].reduce((a, b) => a + b, 0)}   client-side bound (${CALL_BOUND_MS} ms) hit ${tally.hung}`,
    );
    for (const [code, n] of [...tally.byCode.entries()].sort((a, b) => b[1] - a[1])) out(`    ${code.padEnd(20)} ${n}`);
    out('  by kind of call:');
    for (const [label, outcomes] of tally.byLabel) out(`    ${label.padEnd(24)} ${[...outcomes.entries()].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    out('  a message of each:');
    for (const [what, message] of tally.samples) out(`    ${what}: ${message.slice(0, 160)}`);
    out(`  backends: ${rows.map((r) => `${r.name} ${r.status} (${r.restarts} restarts, pool ${r.pool.size}, pid ${r.pid ?? '-'})`).join(', ')}`);
    for (const r of rows.filter((row) => row.status !== 'running')) out(`    ${r.name}: ${r.last_error ?? ''}`);
    const fmt = (f: Footprint): string =>
      `children ${f.children}, fds ${f.fds}, heap used ${f.heapUsedMb.toFixed(1)} MB (total ${f.heapTotalMb.toFixed(1)} MB), RSS ${f.rssMb.toFixed(1)} MB`;
    out(`  before: ${fmt(before)}`);
    out(`  after:  ${fmt(after)}`);
    const flat = after.children === before.children && after.fds === before.fds;
    out(
      `  children and fds ${flat ? 'back to where they started' : 'NOT back to where they started'}; heap ${(after.heapUsedMb - before.heapUsedMb).toFixed(1)} MB, RSS ${(after.rssMb - before.rssMb).toFixed(1)} MB`,
    );
    return flat && tally.hung === 0 ? 0 : 1;
  } finally {
    await cleanup();
    let left = markedProcesses(marker);
    for (let i = 0; i < 50 && left.length > 0; i += 1) {
      await sleep(100);
      left = markedProcesses(marker);
    }
    if (left.length > 0) process.stdout.write(`  left behind after cleanup: ${left.join(', ')}\n`);
  }
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
});
