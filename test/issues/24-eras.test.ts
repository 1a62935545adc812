import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, processesWithMarker, q, type RunningGateway, resultText, startGateway, stopAll } from '../helpers/harness.js';
import { runCli } from '../helpers/run-cli.js';

/*
 * Issue #24, item 1: each backend's protocol era. `protocol = "auto"` asks
 * the backend (server/discover, falling back to initialize); on stdio the
 * question goes to a throwaway process, so a server that exits on any
 * request before initialize is still served (legacy), and the probe process
 * is gone afterwards. The verdict, its time and how it was reached are in
 * /server/list; a restart asks again; a configured era is never probed.
 */

interface Protocol {
  configured: string;
  era: string | null;
  version: string | null;
  how: string | null;
  probed_at: string | null;
}
interface Row {
  name: string;
  status: string;
  pid: number | null;
  protocol: Protocol;
}

/** Children of the gateway carry this in their environment (the backend's env), probes included. */
const DIE_MARK = `STONEGATE_ERA_DIE_${process.pid}`;
const MODERN_MARK = `STONEGATE_ERA_MODERN_${process.pid}`;

let gw: RunningGateway;
let http: ChildProcess | undefined;
/** Answers every request 401, as a server whose token expired. */
let guard: Server | undefined;

async function startHttpFixture(): Promise<number> {
  const proc = spawn(process.execPath, [fixture('serve-http')], {
    env: { ...process.env, PORT: '0', NO_GET_STREAM: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  http = proc;
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`serve-http exited (${code}) before listening`)));
  });
  return Number(/^listening (\d+)$/.exec(line)?.[1]);
}

async function rows(): Promise<Map<string, Row>> {
  const servers = (await gw.request('GET', '/server/list')).body.servers as Row[];
  return new Map(servers.map((r) => [r.name, r]));
}

async function row(name: string): Promise<Row> {
  const found = (await rows()).get(name);
  if (found === undefined) throw new Error(`no backend ${name}`);
  return found;
}

const READY = new Set(['dies', 'modern', 'remote', 'plain', 'pinned']);

beforeAll(async () => {
  const port = await startHttpFixture();
  guard = createServer((_req, res) => res.writeHead(401, { 'content-type': 'text/plain' }).end('token has expired'));
  await new Promise<void>((resolve) => guard?.listen(0, '127.0.0.1', resolve));
  const guardAddress = guard.address();
  const guardPort = typeof guardAddress === 'object' && guardAddress !== null ? guardAddress.port : 0;
  gw = await startGateway(`
[[backends]]
name = "dies"
command = "node"
args = [${q(fixture('die-before-init-server'))}]
protocol = "auto"
env = { ${DIE_MARK} = "1" }

[[backends]]
name = "modern"
command = "node"
args = [${q(fixture('conformance-modern-server'))}]
protocol = "auto"
env = { ${MODERN_MARK} = "1" }

[[backends]]
name = "remote"
transport = "http"
url = ${q(`http://127.0.0.1:${port}/mcp`)}

[[backends]]
name = "guarded"
transport = "http"
url = ${q(`http://127.0.0.1:${guardPort}/mcp`)}

[[backends]]
name = "plain"
command = "node"
args = [${q(fixture('conformance-server'))}]

[[backends]]
name = "pinned"
command = "node"
args = [${q(fixture('conformance-modern-server'))}]
protocol = "2026-07-28"

[supervisor]
health_interval = 3600
`);
  await Promise.all([...READY].map((name) => gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name)));
});
afterAll(async () => {
  await stopAll();
  http?.kill('SIGKILL');
  guard?.closeAllConnections();
  guard?.close();
});

describe('#24 item 1: each backend has an era, asked or configured, shown in /server/list', () => {
  it('a stdio backend that exits on a pre-initialize request is probed in a throwaway process: legacy, served, and the probe is gone', async () => {
    const dies = await row('dies');
    expect(dies.status).toBe('running');
    expect(dies.protocol).toMatchObject({ configured: 'auto', era: 'legacy', how: 'probed' });
    expect(Date.parse(dies.protocol.probed_at ?? '')).not.toBeNaN();
    const call = await gw.request('POST', '/call', { server: 'dies', tool: 'test_simple_text', arguments: {} });
    expect(call.status).toBe(200);
    expect(resultText(call.body)).toBeTruthy();
    // Only the serving child is left: the probe process ended with its group.
    expect(processesWithMarker(DIE_MARK)).toEqual([dies.pid]);
    // The probe met a closed pipe, never the real child: that one never restarted.
    expect(gw.logs.some((l) => l.backend === 'dies' && l.msg === 'backend era: legacy')).toBe(true);
    expect(gw.logs.some((l) => l.backend === 'dies' && l.msg === 'backend connection ended unexpectedly')).toBe(false);
  });

  it('a 2026-07-28 stdio server with protocol = "auto" is modern, and its probe process is gone too', async () => {
    const modern = await row('modern');
    expect(modern.status).toBe('running');
    expect(modern.protocol).toMatchObject({ configured: 'auto', era: 'modern', version: '2026-07-28', how: 'probed' });
    expect(processesWithMarker(MODERN_MARK)).toEqual([modern.pid]);
  });

  it('an http backend (protocol unset: auto) is asked in place: a 2025 server is legacy', async () => {
    const remote = await row('remote');
    expect(remote.protocol).toMatchObject({ configured: 'auto', era: 'legacy', version: '2025-11-25', how: 'probed' });
    expect(Date.parse(remote.protocol.probed_at ?? '')).not.toBeNaN();
    const call = await gw.request('POST', '/call', { server: 'remote', tool: 'test_simple_text', arguments: {} });
    expect(call.status).toBe(200);
  });

  it("a 401 to the http question is no verdict: the start fails with the server's answer, and the era stays unknown", async () => {
    await gw.waitForLog((l) => l.backend === 'guarded' && l.msg === 'backend will restart');
    const guarded = await row('guarded');
    expect(guarded.status).not.toBe('running');
    expect(guarded.protocol).toEqual({ configured: 'auto', era: null, version: null, how: null, probed_at: null });
    expect((guarded as unknown as { last_error: string }).last_error).toMatch(/HTTP 401.*token has expired/);
  });

  it('configured eras are never probed: unset on stdio is 2025-11-25, and an explicit 2026-07-28 is modern', async () => {
    const all = await rows();
    expect(all.get('plain')?.protocol).toEqual({ configured: '2025-11-25', era: 'legacy', version: '2025-11-25', how: 'configured', probed_at: null });
    expect(all.get('pinned')?.protocol).toMatchObject({ configured: '2026-07-28', era: 'modern', version: '2026-07-28', how: 'configured', probed_at: null });
    expect(gw.logs.some((l) => (l.backend === 'plain' || l.backend === 'pinned') && l.era_probe === true)).toBe(false);
  });

  it('a crash of the process drops the verdict: the restart asks again, in a new throwaway process', async () => {
    const before = await row('dies');
    process.kill(before.pid ?? 0, 'SIGKILL');
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'dies' && l.restarted === true);
    const after = await row('dies');
    expect(after.pid).not.toBe(before.pid);
    expect(after.protocol).toMatchObject({ era: 'legacy', how: 'probed' });
    expect(Date.parse(after.protocol.probed_at ?? '')).toBeGreaterThan(Date.parse(before.protocol.probed_at ?? ''));
    expect(processesWithMarker(DIE_MARK)).toEqual([after.pid]);
  });

  it('stonegate status has an ERA column', async () => {
    const run = await runCli(['status', '--url', gw.url]);
    const lines = run.stdout.split('\n');
    expect(lines[1]).toMatch(/^BACKEND +STATUS +ERA +CIRCUIT/);
    const era = (name: string): string | undefined => lines.find((l) => l.startsWith(`${name} `))?.match(/running +(\S+(?: \(auto\))?)/)?.[1];
    expect([era('dies'), era('modern'), era('remote'), era('plain'), era('pinned')]).toEqual([
      'legacy (auto)',
      'modern (auto)',
      'legacy (auto)',
      'legacy',
      'modern',
    ]);
  });

  it('a restart asks again: probed_at changes', async () => {
    const before = (await row('modern')).protocol.probed_at;
    const restarted = await gw.request('POST', '/server/restart', { name: 'modern' });
    expect(restarted.status).toBe(200);
    const after = await row('modern');
    expect(after.protocol).toMatchObject({ era: 'modern', how: 'probed' });
    expect(Date.parse(after.protocol.probed_at ?? '')).toBeGreaterThan(Date.parse(before ?? ''));
    expect(processesWithMarker(MODERN_MARK)).toEqual([after.pid]);
  });
});
