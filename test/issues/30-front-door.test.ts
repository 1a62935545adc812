import { type IncomingHttpHeaders, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, demoBackend, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// #30: the hot routes (POST /call, POST /mcp and /mcp/{server} with a JSON
// body and no query string) are served by the Node listener before Hono
// (src/http/hot-routes.ts), with the guards' own functions. A query string
// sends the same request through Hono's chain, so each refusal is asked of
// both and must come back the same: bad Host, bad Origin, no token, a wrong
// token, a token without the backend, a token over its rate, a body over the
// size limit or nested too deep, a body that is not JSON; and the calls that
// pass must answer alike.

const TOKENS = { admin: 'tok-admin-30-front', alice: 'tok-alice-30-front', narrow: 'tok-narrow-30-front', slow: 'tok-slow-30-front' };
const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'front-door-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

let gw: RunningGateway;

/** A raw HTTP request (Host and Content-Length as given), its answer parsed. */
function send(path: string, headers: Record<string, string>, body: string): Promise<Answer> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What must match between the hot path and the chain (a 2026-07-28 result's duration and ids aside). */
function shape(answer: Answer): unknown {
  const body = JSON.parse(JSON.stringify(answer.body, (key, value: unknown) => (key === 'duration_ms' ? 0 : value))) as unknown;
  return {
    status: answer.status,
    body,
    type: answer.headers['content-type'],
    challenge: answer.headers['www-authenticate'],
    retry: answer.headers['retry-after'] !== undefined,
    chunked: answer.headers['transfer-encoding'],
  };
}

/** The same request on the hot path and through Hono's chain (a query string); both answers. */
async function both(path: string, headers: Record<string, string>, body: string): Promise<[Answer, Answer]> {
  const hot = await send(path, headers, body);
  const chain = await send(`${path}?via=chain`, headers, body);
  return [hot, chain];
}

const call = JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'front' } });
const modern = (name: string): string =>
  JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: { text: 'front' }, _meta: MODERN_META } });
const modernHeaders = (name: string): Record<string, string> => ({
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': name,
});

/** The hot routes, each with a request that passes and its headers. */
const ROUTES: { name: string; path: string; body: string; headers: Record<string, string> }[] = [
  { name: 'POST /call', path: '/call', body: call, headers: {} },
  { name: 'POST /mcp (2026-07-28)', path: '/mcp', body: modern('demo__echo'), headers: modernHeaders('demo__echo') },
  { name: 'POST /mcp/demo (2026-07-28)', path: '/mcp/demo', body: modern('echo'), headers: modernHeaders('echo') },
];

const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const json = { 'content-type': 'application/json' };

describe('#30 the hot routes refuse what the chain refuses', () => {
  let port: string;
  let session: Record<string, string>;

  beforeAll(async () => {
    gw = await startGateway(
      `
[gateway]
max_body_bytes = 2048
max_json_depth = 8

[auth]
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${T30_ADMIN}"

[[auth.tokens]]
name = "alice"
token = "\${T30_ALICE}"

[[auth.tokens]]
name = "narrow"
token = "\${T30_NARROW}"
servers = ["other"]

[[auth.tokens]]
name = "slow"
token = "\${T30_SLOW}"
rate_limit = 0.001
burst = 2

${demoBackend()}

[[backends]]
name = "other"
command = "node"
args = [${q(DEMO)}]
`,
      { env: { T30_ADMIN: TOKENS.admin, T30_ALICE: TOKENS.alice, T30_NARROW: TOKENS.narrow, T30_SLOW: TOKENS.slow } },
    );
    port = new URL(gw.url).port;
    // A 2025-era session of alice's, opened on the hot path.
    const init = await send(
      '/mcp',
      { ...json, ...auth(TOKENS.alice), accept: 'application/json, text/event-stream' },
      JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    );
    expect(init.status).toBe(200);
    const id = init.headers['mcp-session-id'];
    expect(typeof id).toBe('string');
    session = { 'mcp-session-id': id as string, 'mcp-protocol-version': '2025-06-18', accept: 'application/json, text/event-stream' };
    const ack = await send('/mcp', { ...json, ...auth(TOKENS.alice), ...session }, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    expect(ack.status).toBe(202);
    ROUTES.push({
      name: 'POST /mcp (2025 session)',
      path: '/mcp',
      body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'demo__echo', arguments: { text: 'front' } } }),
      headers: session,
    });
  });
  afterAll(stopAll);

  it('answers a call that passes the same way on both paths, as JSON with its length', async () => {
    for (const route of ROUTES) {
      const [hot, chain] = await both(route.path, { ...json, ...auth(TOKENS.alice), ...route.headers }, route.body);
      expect(hot.status, route.name).toBe(200);
      expect(JSON.stringify(hot.body), route.name).toContain('front');
      expect(hot.headers['content-length'], route.name).toBeDefined();
      expect(shape(hot), route.name).toEqual(shape(chain));
    }
  });

  it('refuses a Host or an Origin that is not allowed (DNS rebinding), a missing or wrong token', async () => {
    const cases: [string, Record<string, string>, number][] = [
      ['bad Host', { host: `127.0.0.1.attacker.example:${port}`, ...auth(TOKENS.alice) }, 403],
      ['bad Origin', { origin: 'http://attacker.example', ...auth(TOKENS.alice) }, 403],
      ['no token', {}, 401],
      ['wrong token', auth('tok-nobody'), 401],
    ];
    for (const route of ROUTES) {
      for (const [what, headers, status] of cases) {
        const [hot, chain] = await both(route.path, { ...json, ...route.headers, ...headers }, route.body);
        expect(hot.status, `${route.name}: ${what}`).toBe(status);
        expect(shape(hot), `${route.name}: ${what}`).toEqual(shape(chain));
      }
    }
  });

  it('refuses a token without the backend (scope), and another token on a session', async () => {
    for (const route of ROUTES) {
      const [hot, chain] = await both(route.path, { ...json, ...route.headers, ...auth(TOKENS.narrow) }, route.body);
      // /call and /mcp/demo: 403 FORBIDDEN; /mcp: the tool is not in the token's view, or the session is another token's.
      expect(JSON.stringify(hot.body), route.name).toMatch(/FORBIDDEN|Forbidden|Unknown tool|not found|demo__echo/i);
      expect(hot.status === 200 ? 'error' in (hot.body as object) : true, route.name).toBe(true);
      expect(shape(hot), route.name).toEqual(shape(chain));
    }
  });

  it('refuses a body over max_body_bytes, nested deeper than max_json_depth, or not JSON', async () => {
    const big = JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'x'.repeat(4096) } });
    const deep = `{"server":"demo","tool":"echo","arguments":${'{"a":'.repeat(10)}1${'}'.repeat(10)}}`;
    for (const route of ROUTES) {
      const headers = { ...json, ...route.headers, ...auth(TOKENS.alice) };
      const [hotBig, chainBig] = await both(route.path, headers, big);
      expect(hotBig.status, `${route.name}: too large`).toBe(413);
      expect(shape(hotBig), `${route.name}: too large`).toEqual(shape(chainBig));
      // A body refused unread past the limit is not drained on the hot REST path: the connection closes after the answer.
      if (route.path === '/call') expect(hotBig.headers.connection).toBe('close');
      const [hotDeep, chainDeep] = await both(route.path, headers, deep);
      expect(hotDeep.status, `${route.name}: too deep`).toBe(400);
      expect(shape(hotDeep), `${route.name}: too deep`).toEqual(shape(chainDeep));
    }
    const [hot, chain] = await both('/call', { ...auth(TOKENS.alice), 'content-type': 'text/plain', origin: `http://127.0.0.1:${port}` }, call);
    expect(hot.status).toBe(415);
    expect(shape(hot)).toEqual(shape(chain));
  });

  it('refuses a token over its request rate on both paths (the same bucket)', async () => {
    const route = ROUTES[0] as (typeof ROUTES)[number];
    const headers = { ...json, ...auth(TOKENS.slow) };
    // burst = 2, and the rate refills one request in 1,000 s: the hot path takes one, the chain the other, then both refuse.
    const [hot, chain] = await both(route.path, headers, route.body);
    expect([hot.status, chain.status]).toEqual([200, 200]);
    const [hotOver, chainOver] = await both(route.path, headers, route.body);
    expect(hotOver.status).toBe(429);
    expect(shape(hotOver)).toEqual(shape(chainOver));
  });
});

describe('#30 the hot routes with tracing on ([otel])', () => {
  beforeAll(async () => {
    // A collector that refuses connections: export fails (a warning), calls do not.
    gw = await startGateway(
      `[gateway]\nmax_body_bytes = 2048\n\n[telemetry]\nenabled = true\notlp_endpoint = "http://127.0.0.1:9"\nsample_ratio = 1.0\n\n${demoBackend()}\n`,
    );
  });
  afterAll(stopAll);

  it('still serve POST /call before Hono (the hot path closes after refusing an unread body over the limit; the chain keeps the connection)', async () => {
    const big = JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'x'.repeat(4096) } });
    const [hot, chain] = await both('/call', json, big);
    expect(hot.status).toBe(413);
    expect(shape(hot)).toEqual(shape(chain));
    expect(hot.headers.connection).toBe('close');
    expect(chain.headers.connection).not.toBe('close');
    const [ok, viaChain] = await both('/call', json, call);
    expect(ok.status).toBe(200);
    expect(shape(ok)).toEqual(shape(viaChain));
  });
});
