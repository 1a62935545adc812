import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { runCli } from '../helpers/run-cli.js';

/*
 * Issue #19, item 8: the CIRCUIT_OPEN message offers POST /server/restart
 * as the fix, but a restart left the circuit open until reset_timeout. A
 * successful start or restart now closes it, and POST /server/reset (CLI
 * `stonegate reset NAME`, a dashboard button) closes it by hand. reset_timeout
 * is an hour here: only the fix can close a circuit within the test.
 */

const ADMIN = 'reset-admin-token-5c81e2';
const AGENT = 'reset-agent-token-0b9d47';
const SCOPED = 'reset-scoped-admin-3e7a10';

let gw: RunningGateway;

async function api(
  method: string,
  path: string,
  body?: unknown,
  token = ADMIN,
  extra: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...extra };
  if (token !== '') headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${gw.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** POST /server/reset with an admin token and the given Host header (fetch cannot set Host). */
function statusWithHost(host: string): Promise<number> {
  const target = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: '/server/reset',
        method: 'POST',
        headers: { host, authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify({ name: 'flaky' }));
  });
}

const call = (tool: string): ReturnType<typeof api> => api('POST', '/call', { server: 'flaky', tool, arguments: {} });

async function row(): Promise<{ circuit: string; status: string; pid: number | null }> {
  const servers = (await api('GET', '/server/list')).body.servers as { name: string; circuit: string; status: string; pid: number | null }[];
  const found = servers.find((s) => s.name === 'flaky');
  if (found === undefined) throw new Error('no backend flaky');
  return found;
}

/** Fails two calls the breaker counts: the circuit (failure_threshold = 2) opens and refuses the next call. */
async function openCircuit(): Promise<void> {
  for (let i = 0; i < 2; i += 1) expect((await call('fail')).body.code).toBe('BACKEND_ERROR');
  const refused = await call('ok');
  expect(refused.body.code).toBe('CIRCUIT_OPEN');
  expect(refused.body.error).toContain('POST /server/reset');
  expect((await row()).circuit).toBe('open');
}

beforeAll(async () => {
  gw = await startGateway(
    `
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${RESET_ADMIN}"

[[auth.tokens]]
name = "worker"
token = "\${RESET_AGENT}"

[[auth.tokens]]
name = "other-admin"
role = "admin"
token = "\${RESET_SCOPED}"
servers = ["other"]

[[backends]]
name = "flaky"
command = "node"
args = [${q(fixture('counter-server'))}]
# fail answers malformed responses, which the breaker counts (a backend's JSON-RPC errors it does not).
env = { FAIL_AS = "malformed" }
circuit_breaker = { failure_threshold = 2, reset_timeout = 3600 }

[[backends]]
name = "other"
command = "node"
args = [${q(fixture('counter-server'))}]
`,
    { env: { RESET_ADMIN: ADMIN, RESET_AGENT: AGENT, RESET_SCOPED: SCOPED } },
  );
  for (const name of ['flaky', 'other']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterAll(stopAll);

describe('#19 item 8: a (re)start closes the circuit; POST /server/reset closes it by hand', () => {
  it('POST /server/restart closes the circuit it is offered to fix', async () => {
    await openCircuit();
    const restarted = await api('POST', '/server/restart', { name: 'flaky' });
    expect(restarted.status).toBe(200);
    expect((restarted.body.server as { circuit: string }).circuit).toBe('closed');
    expect((await call('ok')).status).toBe(200);
  });

  it('POST /server/stop then /server/start closes it too', async () => {
    await openCircuit();
    expect((await api('POST', '/server/stop', { name: 'flaky' })).status).toBe(200);
    const started = await api('POST', '/server/start', { name: 'flaky' });
    expect(started.status).toBe(200);
    expect((started.body.server as { circuit: string }).circuit).toBe('closed');
    expect((await call('ok')).status).toBe(200);
  });

  it('POST /server/reset closes an open circuit without touching the process', async () => {
    await openCircuit();
    const before = await row();
    const reset = await api('POST', '/server/reset', { name: 'flaky' });
    expect(reset.status).toBe(200);
    expect(reset.body.ok).toBe(true);
    expect(reset.body.server).toMatchObject({ name: 'flaky', circuit: 'closed', status: 'running', pid: before.pid });
    expect((await call('ok')).status).toBe(200);
    // A clean slate: one failure does not reopen it (no probation after a reset).
    expect((await call('fail')).body.code).toBe('BACKEND_ERROR');
    expect((await call('ok')).status).toBe(200);
  });

  it('POST /server/reset is an admin route: no token 401, agent or out-of-scope token 403, foreign Host or Origin 403, form body 415, unknown name 404, bad body 400', async () => {
    await openCircuit();
    expect((await api('POST', '/server/reset', { name: 'flaky' }, '')).status).toBe(401);
    const agent = await api('POST', '/server/reset', { name: 'flaky' }, AGENT);
    expect(agent.status).toBe(403);
    expect(agent.body.code).toBe('FORBIDDEN');
    const foreign = await api('POST', '/server/reset', { name: 'flaky' }, ADMIN, { origin: 'http://evil.example.com' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe('FORBIDDEN');
    // An admin token limited to other backends may not reset this one.
    const scoped = await api('POST', '/server/reset', { name: 'flaky' }, SCOPED);
    expect([scoped.status, scoped.body.code]).toEqual([403, 'FORBIDDEN']);
    // A Host that is not loopback nor listed (DNS rebinding), and a body that is not JSON.
    expect(await statusWithHost('evil.example.com')).toBe(403);
    // A form a browser posts carries Origin (a curl -d body without one is read as JSON: #19 item 22).
    const form = await fetch(`${gw.url}/server/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, origin: gw.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=flaky',
    });
    expect(form.status).toBe(415);
    expect((await row()).circuit).toBe('open'); // none of them closed it
    const unknown = await api('POST', '/server/reset', { name: 'nope' });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'UNKNOWN_SERVER']);
    const bad = await api('POST', '/server/reset', { nom: 'flaky' });
    expect([bad.status, bad.body.code]).toEqual([400, 'BAD_REQUEST']);
    expect((await api('POST', '/server/reset', { name: 'flaky' })).status).toBe(200);
  });

  it('stonegate reset NAME closes it from the CLI', async () => {
    await openCircuit();
    const run = await runCli(['reset', 'flaky', '--url', gw.url], { env: { STONEGATE_TOKEN: ADMIN } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('flaky: running, circuit closed');
    expect((await row()).circuit).toBe('closed');
  });
});
