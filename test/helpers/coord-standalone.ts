import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The compiled entry point, exactly as an operator runs it. */
export const MAIN = fileURLToPath(new URL('../../dist/backends/coord/main.js', import.meta.url));
/** The stonegate command, whose `coord` runs the same server. */
const BIN = fileURLToPath(new URL('../../bin/stonegate.js', import.meta.url));

/** How to start it: `node main.js …` (default) or `stonegate coord …`, and extra environment. */
export interface CoordLaunch {
  cli?: boolean;
  env?: Record<string, string>;
}

/** The argv that runs the server with `args`, as `launch` says. */
function argvOf(args: string[], launch: CoordLaunch): string[] {
  return launch.cli === true ? [BIN, 'coord', ...args] : [MAIN, ...args];
}

/** Runs the server with `args` until it exits (a start that must fail); resolves with its exit code and stderr. */
export function runCoordToExit(args: string[], launch: CoordLaunch = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, argvOf(args, launch), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...launch.env } });
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.once('exit', (code) => resolve({ code, stderr }));
  });
}

/** A standalone coordination server running as a child process. */
export interface RunningCoord {
  url: string;
  proc: ChildProcess;
  stderr: string[];
  post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<RunningCoord>();

/**
 * Starts `main.js --port 0 --db <db>` (or `stonegate coord …`; without a db,
 * `stonegate coord` takes the config's) and waits for its `coord listening`
 * line on stdout.
 */
export async function startCoord(db: string | undefined, extraArgs: string[] = [], launch: CoordLaunch = {}): Promise<RunningCoord> {
  const args = ['--port', '0', ...(db === undefined ? [] : ['--db', db]), ...extraArgs];
  const proc = spawn(process.execPath, argvOf(args, launch), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...launch.env } });
  const stderr: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coord did not start within 10 s; stderr:\n${stderr.join('\n')}`)), 10_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { msg?: string; url?: string };
        if (parsed.msg === 'coord listening' && parsed.url !== undefined) {
          clearTimeout(timer);
          resolve(parsed.url);
        }
      } catch {
        // not our line
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`coord exited (${code ?? signal}) before listening; stderr:\n${stderr.join('\n')}`));
    });
  });
  const request = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${url}/coord${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const coord: RunningCoord = {
    url,
    proc,
    stderr,
    post: (path, body) => request('POST', path, body),
    get: (path) => request('GET', path),
    stop: async (signal = 'SIGTERM') => {
      running.delete(coord);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  running.add(coord);
  return coord;
}

/** Stops every server a test left running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop('SIGKILL')));
}
