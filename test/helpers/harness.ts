import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run the compiled gateway from dist/). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'stonegate.js');
export const DEMO = join(ROOT, 'dist', 'backends', 'demo', 'server.js');
export const fixture = (name: string): string => join(ROOT, 'dist', 'test', 'fixtures', `${name}.js`);

export interface LogLine {
  msg: string;
  level: number;
  backend?: string;
  [key: string]: unknown;
}

/** A gateway running as a real child process on a real port. */
export interface RunningGateway {
  url: string;
  proc: ChildProcess;
  dir: string;
  logs: LogLine[];
  /** Resolves with the first log line that matches (past or future). */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** JSON request helper: returns status, headers and parsed body. */
  request(method: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>;
  /** SIGTERM (or the given signal) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<RunningGateway>();

/*
 * Every gateway process this test file spawned and has not seen exit, started or not: a test that timed
 * out while a gateway was starting never gets it into `running`, and the fork's end left it (and its
 * backends) running, at load 20, until killed by hand. test/helpers/kill-spawned.ts kills what is left
 * after each file (vitest ends its forks with a signal, so no 'exit' handler of ours would run).
 */
const spawned = new Set<ChildProcess>();

/** SIGKILLs every gateway process of this file still alive (setup file kill-spawned.ts, after all its tests). */
export function killSpawned(): void {
  for (const child of spawned) child.kill('SIGKILL');
}

/** Starts `stonegate serve` with the given TOML (a temp data_dir and port 0 are added) and waits for the listener. */
export async function startGateway(
  toml: string,
  options: { args?: string[]; env?: Record<string, string>; dir?: string; keep?: boolean } = {},
): Promise<RunningGateway> {
  // `dir` reuses a folder (config and data) from an earlier run: a restart.
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'stonegate-it-'));
  const configPath = join(dir, 'stonegate.toml');
  // The built-in coordination backend is mounted by default; tests that
  // are not about it leave it out so that backend lists stay theirs.
  writeFileSync(configPath, toml.includes('[coordination]') ? toml : `${toml}\n[coordination]\nenabled = false\n`);
  const proc = spawn(process.execPath, [BIN, 'serve', '-c', configPath, '--port', '0', '--data-dir', join(dir, 'data'), ...(options.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const watchers = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text, level: 30 };
    }
    logs.push(line);
    for (const w of watchers) {
      if (w.match(line)) {
        watchers.delete(w);
        w.resolve(line);
      }
    }
  });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  spawned.add(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      spawned.delete(proc);
      resolve({ code, signal });
    }),
  );

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<LogLine>((resolve, reject) => {
      const watcher = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        watchers.delete(watcher);
        reject(
          new Error(
            `log line not seen within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}; last logs: ${logs
              .slice(-10)
              .map((l) => l.msg)
              .join(' | ')}`,
          ),
        );
      }, timeoutMs);
      watchers.add(watcher);
    });
  };

  const listening = await Promise.race([
    // A bound, not a window: a gateway that cannot start exits (below) and fails at once. Under heavy load a
    // start took more than the 15 s default (28-views at load 15–23, with no log line yet).
    waitForLog((l) => l.msg === 'stonegate listening', 60_000),
    exited.then((e) => {
      throw new Error(`gateway exited (${e.code ?? e.signal}) before listening: ${stderr}`);
    }),
  ]).catch(async (err: unknown) => {
    // Not listening in time: the process is nobody's to stop (it is not in `running`), so it is killed here,
    // or it and its backends outlive the test run.
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    if (options.dir === undefined && options.keep !== true) rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const url = listening.url as string;
  const gateway: RunningGateway = {
    url,
    proc,
    dir,
    logs,
    waitForLog,
    async request(method, path, body) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { text };
      }
      return { status: response.status, headers: response.headers, body: parsed };
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const result = await exited;
      running.delete(gateway);
      if (options.keep !== true) rmSync(dir, { recursive: true, force: true });
      return result;
    },
  };
  running.add(gateway);
  return gateway;
}

/** Stops every gateway a test left running (afterAll/afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((g) => g.stop('SIGKILL')));
}

/** Waits until `check` returns a truthy value, polling; fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Live processes whose environment holds `marker` (children inherit it, so
 * grandchildren count). Zombies are dead and ignored: the reaper of orphans
 * on this machine can be slow to collect them.
 */
export function processesWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (!environ.includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && state !== 'X') pids.push(Number(entry));
    } catch {
      // the process ended while we looked, or is not ours to read
    }
  }
  return pids;
}

/** TOML string literal. */
export const q = (s: string): string => JSON.stringify(s);

/** A backend's row of GET /server/list, as the resilience tests read it. */
export interface ServerRow {
  name: string;
  status: string;
  pid: number | null;
  restarts: number;
  last_error: string | null;
  pool: { size: number };
}

/** The GET /server/list row of backend `name` (an error when there is none). */
export async function serverRow(gw: RunningGateway, name: string): Promise<ServerRow> {
  const rows = (await gw.request('GET', '/server/list')).body.servers as ServerRow[];
  const found = rows.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no backend ${name}`);
  return found;
}

/** A request that must answer 200: its answer, else an error naming the route, the status and the body. */
export async function requestOk(gw: RunningGateway, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await gw.request(method, path, body);
  if (answer.status !== 200) throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer;
}

/** The first text of a REST /call answer's result. */
export const resultText = (body: Record<string, unknown>): string => (body.result as { content: { text: string }[] }).content[0]?.text ?? '';

/** The TOML of one demo backend entry; more keys of the entry can follow it on the next lines. */
export function demoBackend(name = 'demo'): string {
  return `[[backends]]\nname = ${q(name)}\ncommand = "node"\nargs = [${q(DEMO)}]`;
}
