import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Every error code the core data path can produce, each from a real request
// against real backends.
describe('error codes over REST', () => {
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway(`
[gateway]
max_body_bytes = 2048

${demoBackend()}

[[backends]]
name = "hang"
command = "node"
args = [${q(fixture('hang-server'))}]
timeout = 1500 # long enough that the POOL_EXHAUSTED test finds the first call still holding the connection on a loaded machine
pool = { max = 1, max_concurrency = 1, acquire_timeout = 200 }

[[backends]]
name = "flaky"
command = "node"
args = [${q(fixture('flaky-server'))}]
circuit_breaker = { failure_threshold = 2, reset_timeout = 60 }

[[backends]]
name = "garbled"
command = "node"
args = [${q(fixture('flaky-server'))}]
env = { FAIL_AS = "malformed" }
circuit_breaker = { failure_threshold = 2, reset_timeout = 60 }

[[backends]]
name = "missing"
command = "/nonexistent/stonegate-test-binary"
`);
    for (const name of ['demo', 'hang', 'flaky', 'garbled']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
  });
  afterAll(stopAll);

  it('BAD_REQUEST for a body that is not JSON, and for a missing field', async () => {
    const notJson = await gw.request('POST', '/call', '{"server": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body).toMatchObject({ code: 'BAD_REQUEST' });
    expect(notJson.body.error).toMatch(/not valid JSON/);
    const missing = await gw.request('POST', '/call', { server: 'demo' });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ code: 'BAD_REQUEST' });
    expect(missing.body.error).toMatch(/tool/);
  });

  it('INVALID_ARGUMENTS when arguments break the input schema (the backend is not asked)', async () => {
    const { status, body } = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 5 } });
    expect(status).toBe(400);
    expect(body.code).toBe('INVALID_ARGUMENTS');
    expect(body.error).toMatch(/arguments\/text must be string/);
  });

  it('UNKNOWN_SERVER and UNKNOWN_TOOL', async () => {
    const server = await gw.request('POST', '/call', { server: 'nope', tool: 'echo', arguments: {} });
    expect(server.status).toBe(404);
    expect(server.body).toMatchObject({ code: 'UNKNOWN_SERVER' });
    const tool = await gw.request('POST', '/call', { server: 'demo', tool: 'nope', arguments: {} });
    expect(tool.status).toBe(404);
    expect(tool.body).toMatchObject({ code: 'UNKNOWN_TOOL' });
    const schema = await gw.request('GET', '/schema/demo/nope');
    expect(schema.body).toMatchObject({ code: 'UNKNOWN_TOOL' });
    const tools = await gw.request('GET', '/tools/nope');
    expect(tools.body).toMatchObject({ code: 'UNKNOWN_SERVER' });
  });

  it('UNKNOWN_ROUTE for a path that does not exist', async () => {
    const { status, body } = await gw.request('GET', '/no/such/route');
    expect(status).toBe(404);
    expect(body.code).toBe('UNKNOWN_ROUTE');
  });

  it('PAYLOAD_TOO_LARGE for a body over max_body_bytes', async () => {
    const { status, body } = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'x'.repeat(4096) } });
    expect(status).toBe(413);
    expect(body.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('TIMEOUT when the backend does not answer, and the backend is sent the cancellation', async () => {
    const { status, body } = await gw.request('POST', '/call', { server: 'hang', tool: 'hang', arguments: {} });
    expect(status).toBe(504);
    expect(body.code).toBe('TIMEOUT');
    expect(body.error).toMatch(/1500 ms/);
    await gw.waitForLog((l) => l.backend === 'hang' && l.msg === 'hang: cancelled');
  });

  it('POOL_EXHAUSTED when every connection is busy past acquire_timeout', async () => {
    const first = gw.request('POST', '/call', { server: 'hang', tool: 'hang', arguments: {} });
    await eventually(
      async () =>
        ((await gw.request('GET', '/server/list')).body.servers as { name: string; pool: { inflight: number } }[]).find((s) => s.name === 'hang')?.pool
          .inflight === 1,
    );
    const second = await gw.request('POST', '/call', { server: 'hang', tool: 'ok', arguments: {} });
    expect(second.status).toBe(503);
    expect(second.body.code).toBe('POOL_EXHAUSTED');
    expect(second.headers.get('retry-after')).toBe('1');
    expect((await first).body.code).toBe('TIMEOUT');
  });

  it('BACKEND_ERROR for a JSON-RPC error, with its code; the circuit stays closed', async () => {
    for (let i = 0; i < 3; i += 1) {
      const a = await gw.request('POST', '/call', { server: 'flaky', tool: 'always_fail', arguments: {} });
      expect(a.status).toBe(502);
      expect(a.body.code).toBe('BACKEND_ERROR');
      expect(a.body.backend_code).toBe(-32603);
    }
    expect((await gw.request('POST', '/call', { server: 'flaky', tool: 'ok', arguments: {} })).status).toBe(200);
  });

  it('BACKEND_ERROR for a malformed answer, then CIRCUIT_OPEN once failure_threshold is reached', async () => {
    const a = await gw.request('POST', '/call', { server: 'garbled', tool: 'always_fail', arguments: {} });
    expect(a.status).toBe(502);
    expect(a.body.code).toBe('BACKEND_ERROR');
    const b = await gw.request('POST', '/call', { server: 'garbled', tool: 'always_fail', arguments: {} });
    expect(b.body.code).toBe('BACKEND_ERROR');
    const c = await gw.request('POST', '/call', { server: 'garbled', tool: 'ok', arguments: {} });
    expect(c.status).toBe(503);
    expect(c.body.code).toBe('CIRCUIT_OPEN');
    expect(Number(c.headers.get('retry-after'))).toBeGreaterThan(0);
    const list = await gw.request('GET', '/server/list');
    expect((list.body.servers as { name: string; circuit: string }[]).find((s) => s.name === 'garbled')?.circuit).toBe('open');
  });

  it('BACKEND_UNAVAILABLE for a backend whose command does not exist', async () => {
    const { status, body } = await gw.request('POST', '/call', { server: 'missing', tool: 'anything', arguments: {} });
    expect(status).toBe(503);
    expect(body.code).toBe('BACKEND_UNAVAILABLE');
    expect(body.error).toMatch(/not found/);
  });
});
