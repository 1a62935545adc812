import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, demoBackend, type LogLine, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19, item 20: the troubleshooting section sends people to
// `--log-level debug`, which added nothing about how a backend is started
// or where a call goes. Tried as a new user would: a stdio backend with a
// secret in its env (and in an argument) and a remote backend with a secret
// header and a key in its URL, at debug. The spawn command line, cwd and env
// keys, the connect attempts and each call's routing are logged; no secret
// value ever is.

const SECRET_ENV = 'env-value-never-logged-19';
const SECRET_HEADER = 'header-value-never-logged-19';
const SECRET_QUERY = 'query-value-never-logged-19';
const DEBUG = 20;

let remote: RunningGateway;
let gw: RunningGateway;

beforeAll(async () => {
  remote = await startGateway(demoBackend());
  await remote.waitForLog((l) => l.msg === 'backend ready');
  gw = await startGateway(
    `
[[backends]]
name = "demo"
command = "node"
args = [${q(DEMO)}, "--token=\${SECRET_FOR_19}"]
env = { DEMO_SECRET_19 = "\${SECRET_FOR_19}" }

[[backends]]
name = "remote"
transport = "http"
url = ${q(`${remote.url}/mcp/demo?key=${SECRET_QUERY}`)}
headers = { Authorization = ${q(`Bearer ${SECRET_HEADER}`)} }
`,
    { args: ['--log-level', 'debug'], env: { SECRET_FOR_19: SECRET_ENV } },
  );
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'remote');
});
afterAll(stopAll);

const debugLine =
  (msg: string, backend: string) =>
  (l: LogLine): boolean =>
    l.msg === msg && l.backend === backend && l.level === DEBUG;

describe('issue 19.20: --log-level debug says how backends start and where calls go', () => {
  it('logs the spawn command line, cwd and env keys (never values) of a stdio backend', async () => {
    const spawned = await gw.waitForLog(debugLine('spawning backend process', 'demo'));
    expect(spawned.command).toBe(process.execPath);
    // The argument that holds the env secret is shown redacted.
    expect(spawned.args).toEqual([DEMO, '--token=[redacted]']);
    expect(spawned.cwd).toBe(gw.dir);
    expect(spawned.env_keys).toEqual(['DEMO_SECRET_19', 'HOME', 'PATH']);
    const started = await gw.waitForLog(debugLine('backend process started; sending initialize', 'demo'));
    expect(started.pid).toEqual(expect.any(Number));
    await gw.waitForLog(debugLine('backend initialized', 'demo'));
    await gw.waitForLog(debugLine('connect attempt', 'demo'));
  });

  it('logs each connect attempt of a remote backend, without its credentials or URL query', async () => {
    const attempt = await gw.waitForLog(debugLine('connecting to remote backend', 'remote'));
    expect(attempt).toMatchObject({ url: `${remote.url}/mcp/demo`, transport: 'streamable-http', header_keys: ['Authorization'] });
    const ready = await gw.waitForLog(debugLine('backend initialized', 'remote'));
    expect(ready).toMatchObject({ transport: 'streamable-http', server_info: { name: 'demo' } });
  });

  it('logs the routing of each call: the backend, the connection it went to, and how it ended', async () => {
    const { status } = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: `arg ${SECRET_ENV}` } });
    expect(status).toBe(200);
    await gw.waitForLog(debugLine('routing call', 'demo'));
    const sent = await gw.waitForLog(debugLine('call sent to backend connection', 'demo'));
    expect(sent).toMatchObject({ tool: 'echo', pid: expect.any(Number) });
    const done = await gw.waitForLog(debugLine('call finished', 'demo'));
    expect(done).toMatchObject({ tool: 'echo', status: 'success' });
    const bad = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 5 } });
    expect(bad.status).toBe(400);
    expect(await gw.waitForLog(debugLine('call failed', 'demo'))).toMatchObject({ tool: 'echo', code: 'INVALID_ARGUMENTS' });
  });

  it('never logs an env value, a header value, a URL query or call arguments', async () => {
    // Everything logged so far, the calls above included.
    await gw.waitForLog(debugLine('call failed', 'demo'));
    const all = JSON.stringify(gw.logs);
    expect(all).toContain('DEMO_SECRET_19');
    for (const secret of [SECRET_ENV, SECRET_HEADER, SECRET_QUERY]) expect(all).not.toContain(secret);
  });
});
