import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { coordResult } from '../helpers/coord-harness.js';
import { BIN, ROOT } from '../helpers/harness.js';

/*
 * `stonegate coord`: the coordination backend on its own, from the
 * stonegate command — its data_dir and [coordination] options from the
 * config, --db and --opt over them, HTTP or stdio.
 */

const dirs: string[] = [];
const procs = new Set<ChildProcess>();
const clients: Client[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-coord-cli-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  for (const proc of procs) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  procs.clear();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Started {
  proc: ChildProcess;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `stonegate coord ARGS` in `cwd` and waits for its `coord listening` line. */
async function startCoordCli(args: string[], cwd: string): Promise<Started> {
  const proc = spawn(process.execPath, [BIN, 'coord', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, COORD_LOG_LEVEL: 'warn' } });
  procs.add(proc);
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'coord listening' within 15 s; stderr: ${stderr}`)), 15_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as { msg?: string; url?: string };
      if (parsed.msg === 'coord listening' && parsed.url !== undefined) {
        clearTimeout(timer);
        resolve(parsed.url);
      }
    });
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`stonegate coord exited (${e.code ?? e.signal}) before listening; stderr: ${stderr}`));
    });
  });
  return { proc, url, exited };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs the stonegate command to its end. */
function run(args: string[], cwd = ROOT): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.once('exit', (code) => resolve({ code, stderr }));
  });
}

async function post(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/coord${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/** Seconds from a fresh task's claim to its lease's expiry, both by the server's clock (no wall clock of the test). */
async function leaseSeconds(url: string): Promise<number> {
  await post(url, '/agent/register', { agent_id: 'w', role: 'w' });
  await post(url, '/task/post', { description: 'd', posted_by: 'w' });
  const claim = (await post(url, '/task/claim', { agent_id: 'w' })) as { task: { claimed_at: string }; lease: { expires_at: string } };
  return (Date.parse(claim.lease.expires_at) - Date.parse(claim.task.claimed_at)) / 1000;
}

describe('stonegate coord', () => {
  it('serves HTTP with the database in the config data_dir and the [coordination] options of the config', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'stonegate.toml'), '[server]\ndata_dir = "./state"\n\n[coordination]\ntask_claim_timeout = 42\n');
    const coord = await startCoordCli(['--port', '0'], dir);
    expect(existsSync(join(dir, 'state', 'coord.db'))).toBe(true);
    expect(coord.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const client = new Client({ name: 'cli-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL(`${coord.url}/mcp`)));
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('mux_send');
    expect(names).toContain('mux_task_claim');

    const lease = await leaseSeconds(coord.url);
    expect(lease).toBeGreaterThan(38);
    expect(lease).toBeLessThanOrEqual(42);

    coord.proc.kill('SIGTERM');
    expect(await coord.exited).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('--db and --opt override the config', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'stonegate.toml'), '[coordination]\ntask_claim_timeout = 42\n');
    const db = join(dir, 'elsewhere', 'mine.db');
    const coord = await startCoordCli(['-c', join(dir, 'stonegate.toml'), '--port', '0', '--db', db, '--opt', 'task_claim_timeout=7'], ROOT);
    expect(existsSync(db)).toBe(true);
    const lease = await leaseSeconds(coord.url);
    expect(lease).toBeGreaterThan(3);
    expect(lease).toBeLessThanOrEqual(7);
    coord.proc.kill('SIGTERM');
    expect((await coord.exited).code).toBe(0);
  }, 60_000);

  it('--stdio speaks MCP on stdin/stdout and exits when stdin closes', async () => {
    const dir = tempDir();
    const db = join(dir, 'stdio.db');
    const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'coord', '--stdio', '--db', db], cwd: dir, stderr: 'pipe' });
    const client = new Client({ name: 'cli-stdio', version: '1.0.0' });
    await client.connect(transport);
    const pid = transport.pid;
    expect(pid).not.toBeNull();
    expect(coordResult(await client.callTool({ name: 'mux_register', arguments: { agent_id: 'a', role: 'r' } })).isError).toBe(false);
    expect(coordResult(await client.callTool({ name: 'mux_register', arguments: { agent_id: 'b', role: 'r' } })).isError).toBe(false);
    await client.callTool({ name: 'mux_send', arguments: { from: 'a', to: 'b', content: 'over stdio' } });
    const polled = coordResult(await client.callTool({ name: 'mux_poll', arguments: { agent_id: 'b', timeout: 1 } }));
    expect(polled.body.messages).toMatchObject([{ content: 'over stdio' }]);
    await client.close();
    expect(existsSync(db)).toBe(true);
    await expect.poll(() => alive(pid!), { timeout: 10_000 }).toBe(false);

    // Without a client's help: the end of stdin alone stops it, cleanly.
    const bare = spawn(process.execPath, [BIN, 'coord', '--stdio', '--db', db], { cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] });
    procs.add(bare);
    const exited = new Promise<number | null>((resolve) => bare.once('exit', (code) => resolve(code)));
    bare.stdin!.end();
    expect(await exited).toBe(0);
  }, 60_000);

  it('refuses misuse with exit code 2', async () => {
    expect((await run(['coord', '--stdio', '--port', '4000'])).code).toBe(2);
    expect((await run(['coord', 'extra'])).code).toBe(2);
    expect((await run(['coord', '--port', 'x'])).code).toBe(2);
    const misplaced = await run(['serve', '--db', 'x.db']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toMatch(/--db, --pool-size, --max-sessions, --max-streams, --session-idle-timeout and --opt belong to 'stonegate coord'/);
  }, 60_000);
});
