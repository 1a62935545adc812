import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../bench.js';
import { BIN, DEMO, NODE, ROOT } from './paths.js';
import { type BenchProcess, MARKER, MARKER_VAR } from './processes.js';

/** One demo backend of a generated config. */
export interface DemoBackend {
  name: string;
  /** DEMO_EXTRA_TOOLS for this backend. */
  extraTools?: number;
}

export interface StonegateOptions {
  /** Demo backends for a generated config; ignored when `configFile` is given. */
  backends?: DemoBackend[];
  /** [pool] max for the generated config. */
  poolMax?: number;
  /** Extra TOML sections appended as they are. */
  extraToml?: string;
  /** Serve this config file instead of a generated one. */
  configFile?: string;
  /** Runs the gateway under `node --cpu-prof --cpu-prof-dir DIR`. */
  cpuProfDir?: string;
  /** More node flags for the gateway process. */
  nodeArgs?: string[];
  /** How long to wait for the listener. */
  listenTimeoutMs?: number;
  /** Another build's `bin/stonegate.js` (an A/B against a parent commit in one run); default BIN. */
  bin?: string;
  /** [server] heap for the generated config (src/cli/heap.ts); the gateway's default when unset. */
  heap?: 'compact' | 'balanced' | 'fast';
  /** More environment for the gateway process (e.g. MALLOC_ARENA_MAX for an A/B). */
  env?: Record<string, string>;
}

/** A gateway started by a bench. */
export interface RunningStonegate {
  url: string;
  /** The gateway's own process (not its backends). */
  pid: number;
  process: BenchProcess;
  stop(): Promise<void>;
}

const q = (s: string): string => JSON.stringify(s);

/** A stonegate.toml serving demo backends; each backend carries the bench marker so that a sweep finds it. */
export function demoConfig(options: StonegateOptions): string {
  // Every bench client comes from 127.0.0.1, one client for the per-client caps (auth off): lift them, keep the global cap as it was.
  const gateway = ['[gateway]', 'max_sessions_per_client = 10000', 'max_streams_per_client = 10000', 'admin_reserve = 0', ''];
  const heap = options.heap === undefined ? [] : [`heap = ${q(options.heap)}`];
  const lines = ['[server]', 'host = "127.0.0.1"', ...heap, '', ...gateway, '[pool]', `max = ${options.poolMax ?? 1}`, ''];
  for (const backend of options.backends ?? [{ name: 'demo' }]) {
    const env: Record<string, string> = { [MARKER_VAR]: MARKER };
    if (backend.extraTools !== undefined) env.DEMO_EXTRA_TOOLS = String(backend.extraTools);
    const envToml = Object.entries(env)
      .map(([k, v]) => `${k} = ${q(v)}`)
      .join(', ');
    lines.push('[[backends]]', `name = ${q(backend.name)}`, 'command = "node"', `args = [${q(DEMO)}]`, `env = { ${envToml} }`, '');
  }
  if (options.extraToml !== undefined) lines.push(options.extraToml);
  return lines.join('\n');
}

/** Starts `stonegate serve` on a free port (like test/helpers/harness.ts) and waits for `stonegate listening`. */
export async function startStonegate(ctx: BenchContext, options: StonegateOptions, label = 'stonegate'): Promise<RunningStonegate> {
  const dir = join(ctx.tmp, `${label}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true });
  const config = options.configFile ?? join(dir, 'stonegate.toml');
  if (options.configFile === undefined) writeFileSync(config, demoConfig(options));
  const nodeArgs = [...(options.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir]), ...(options.nodeArgs ?? [])];
  const proc = ctx.processes.spawn(label, NODE, [...nodeArgs, options.bin ?? BIN, 'serve', '-c', config, '--port', '0', '--data-dir', join(dir, 'data')], {
    cwd: ROOT,
    env: options.env,
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${label} did not listen within ${options.listenTimeoutMs ?? 20_000} ms: ${proc.tail.join('\n')}`)),
      options.listenTimeoutMs ?? 20_000,
    );
    proc.onLine((line) => {
      if (!line.includes('stonegate listening')) return;
      try {
        const parsed = JSON.parse(line) as { url?: unknown };
        if (typeof parsed.url === 'string') {
          clearTimeout(timer);
          resolve(parsed.url);
        }
      } catch {
        // not a JSON log line
      }
    });
    void proc.exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${e.code ?? e.signal}) before listening: ${proc.tail.join('\n')}`));
    });
  });
  return { url, pid: proc.pid, process: proc, stop: () => proc.stop() };
}

/** GET /health until it says `ok` (every backend running); returns the body. */
export async function waitHealthy(url: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/health`);
      last = await response.json();
      if ((last as { status?: unknown }).status === 'ok') return last as Record<string, unknown>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gateway at ${url} not healthy within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}
