import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #23 items 2 and 7: every error the 2026-07-28 specification requires
 * of a modern request, provoked with raw HTTP against a real gateway, with
 * its exact HTTP status, JSON-RPC code and data — and each one answered
 * (the per-test timeout catches a hang). The security rules of the gateway
 * (Host/Origin, tokens) hold on the modern leg as on sessions.
 */

const TOKEN = 'errors-2026-token-5d1e';
const SCOPED = 'errors-2026-scoped-71c0';
const SLOW = 'errors-2026-slow-token-9a2b';
const V = '2026-07-28';
let gw: RunningGateway;

beforeAll(async () => {
  const config = `[gateway]
max_body_bytes = 65536

${demoBackend()}
[auth]
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${ERR_TOKEN}"

[[auth.tokens]]
name = "scoped"
token = "\${ERR_SCOPED}"
servers = ["demo"]

[[auth.tokens]]
name = "slow"
token = "\${ERR_SLOW}"
rate_limit = 0.001
burst = 1
`;
  gw = await startGateway(config, { env: { ERR_TOKEN: TOKEN, ERR_SCOPED: SCOPED, ERR_SLOW: SLOW } });
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
});
afterAll(stopAll);

const envelope = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  'io.modelcontextprotocol/protocolVersion': V,
  'io.modelcontextprotocol/clientInfo': { name: 'errors', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
  ...extra,
});

interface Answer {
  status: number;
  headers: Headers;
  body: { result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };
}

const BASE_HEADERS = {
  authorization: `Bearer ${TOKEN}`,
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': V,
};

/** POSTs `body` (an object is JSON-encoded) to /mcp with the standard modern headers, overridden by `headers` (undefined drops one). */
async function post(body: unknown, headers: Record<string, string | undefined> = {}, path = '/mcp'): Promise<Answer> {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...BASE_HEADERS, ...headers })) if (v !== undefined) merged[k] = v;
  const response = await fetch(`${gw.url}${path}`, { method: 'POST', headers: merged, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  let parsed: Answer['body'] = {};
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    parsed = { error: { code: Number.NaN, message: text } };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

const call = (name = 'demo__echo', meta: unknown = envelope()) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name, arguments: { text: 'hi' }, _meta: meta },
});
const callHeaders = (name = 'demo__echo') => ({ 'mcp-method': 'tools/call', 'mcp-name': name });
const b64 = (s: string): string => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

function expectError(answer: Answer, status: number, code: number): NonNullable<Answer['body']['error']> {
  expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status, code });
  expect(answer.headers.get('mcp-session-id')).toBeNull();
  return answer.body.error!;
}

describe("issue 23.2/7: the specification's errors on a 2026-07-28 request", () => {
  it('a well-formed modern call succeeds (the baseline the other cases bend)', async () => {
    const answer = await post(call(), callHeaders());
    expect(answer.status).toBe(200);
    expect(answer.body.result?.content).toEqual([{ type: 'text', text: 'hi' }]);
  });

  it('an unsupported version is 400 -32022 naming the supported ones', async () => {
    const answer = await post(call('demo__echo', envelope({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' })), {
      ...callHeaders(),
      'mcp-protocol-version': '2099-01-01',
    });
    const error = expectError(answer, 400, -32022);
    expect(error.data?.supported).toContain(V);
    expect(error.data?.requested).toBe('2099-01-01');
  });

  it.each([
    ['MCP-Protocol-Version differs from the envelope', { 'mcp-protocol-version': '2099-01-01' }],
    ['Mcp-Method differs from the body', { 'mcp-method': 'tools/list' }],
    ['Mcp-Method is missing', { 'mcp-method': undefined }],
    ['Mcp-Name differs from the body', { 'mcp-name': 'demo__other' }],
    ['Mcp-Name is missing', { 'mcp-name': undefined }],
    ['Mcp-Name is Base64 of another name', { 'mcp-name': b64('demo__other') }],
    ['Mcp-Name is a broken Base64 sentinel', { 'mcp-name': '=?base64?!!!?=' }],
  ])('%s: 400 -32020', async (_case, headers) => {
    expectError(await post(call(), { ...callHeaders(), ...headers }), 400, -32020);
  });

  it("Mcp-Name as Base64 (=?base64?…?=) is accepted when it decodes to the body's name", async () => {
    const answer = await post(call(), { ...callHeaders(), 'mcp-name': b64('demo__echo') });
    expect(answer.status).toBe(200);
    expect(answer.body.result?.content).toEqual([{ type: 'text', text: 'hi' }]);
  });

  it.each([
    ['without clientCapabilities', { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientInfo': { name: 'e', version: '1' } }],
    ['with clientCapabilities of the wrong type', envelope({ 'io.modelcontextprotocol/clientCapabilities': 'all' })],
    ['with clientInfo of the wrong type', envelope({ 'io.modelcontextprotocol/clientInfo': 7 })],
  ])('an envelope %s is 400 -32602', async (_case, meta) => {
    expectError(await post(call('demo__echo', meta), callHeaders()), 400, -32602);
  });

  it('a legacy body (no envelope) under a modern MCP-Protocol-Version is 400 -32602', async () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'demo__echo', arguments: { text: 'hi' } } };
    expectError(await post(body, callHeaders()), 400, -32602);
  });

  it('an unknown method is 404 -32601', async () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'no/such-method', params: { _meta: envelope() } };
    expectError(await post(body, { 'mcp-method': 'no/such-method' }), 404, -32601);
  });

  it('initialize in the modern era is 404 -32601', async () => {
    const body = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: V, capabilities: {}, clientInfo: { name: 'e', version: '1' }, _meta: envelope() },
    };
    expectError(await post(body, { 'mcp-method': 'initialize' }), 404, -32601);
  });

  it.each(['GET', 'DELETE'])('%s without a session is 405 with Allow: POST', async (method) => {
    const response = await fetch(`${gw.url}/mcp`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'mcp-protocol-version': V, accept: 'text/event-stream' },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    // Not -32000: the 2026-07-28 revision leaves -32000…-32019 to legacy use.
    expect(((await response.json()) as { error: { code: number } }).error.code).toBe(-32600);
  });

  it('a batch holding a modern request is 400 -32600', async () => {
    const batch = [call(), { ...call(), id: 2 }];
    expectError(await post(batch, callHeaders()), 400, -32600);
  });

  it('resources/read of a missing resource is -32602 with data.uri', async () => {
    const uri = 'stonegate://demo/demo://no-such-resource';
    const body = { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri, _meta: envelope() } };
    const answer = await post(body, { 'mcp-method': 'resources/read', 'mcp-name': uri });
    // A JSON-RPC error in the answer: the transport has no HTTP status for it.
    expectError(answer, 200, -32602);
    expect(answer.body.error?.data?.uri).toBe(uri);
  });

  it('malformed JSON under modern headers is 400 -32700', async () => {
    expectError(await post('{"jsonrpc":"2.0","id":1,"method":', callHeaders()), 400, -32700);
  });
});

describe("issue 23: the gateway's security rules hold on the modern leg", () => {
  it('a modern request with a foreign Host is 403', async () => {
    // fetch sets Host itself; node:http sends the one given.
    const url = new URL(gw.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: '/mcp', method: 'POST', headers: { ...BASE_HEADERS, ...callHeaders(), host: `evil.example:${url.port}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(call()));
    });
    expect(status).toBe(403);
  });

  it('a modern request with a foreign Origin is 403', async () => {
    expect((await post(call(), { ...callHeaders(), origin: 'https://evil.example' })).status).toBe(403);
  });

  it('a modern request without a token is 401', async () => {
    const answer = await post(call(), { ...callHeaders(), authorization: undefined });
    expect(answer.status).toBe(401);
  });
});

describe("issue 23.2: the gateway's own refusals carry a standard JSON-RPC code on 2026-07-28 requests, -32000 on 2025 ones", () => {
  const LEGACY = { 'mcp-protocol-version': '2025-11-25' };
  const init = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e', version: '1' } },
  };

  function expectRefusal(answer: Answer, status: number, rpc: number, code: string): void {
    expect({ status: answer.status, rpc: answer.body.error?.code, code: answer.body.error?.data?.code }).toEqual({ status, rpc, code });
  }

  it('no token: 401, -32600 (modern) / -32000 (2025), data.code UNAUTHORIZED', async () => {
    expectRefusal(await post(call(), { ...callHeaders(), authorization: undefined }), 401, -32600, 'UNAUTHORIZED');
    expectRefusal(await post(init, { ...LEGACY, authorization: undefined }), 401, -32000, 'UNAUTHORIZED');
  });

  it('a foreign Origin: 403, -32600 (modern) / -32000 (2025), data.code FORBIDDEN', async () => {
    expectRefusal(await post(call(), { ...callHeaders(), origin: 'https://evil.example' }), 403, -32600, 'FORBIDDEN');
    expectRefusal(await post(init, { ...LEGACY, origin: 'https://evil.example' }), 403, -32000, 'FORBIDDEN');
  });

  it("over the token's rate limit: 429 with Retry-After, -32603 (modern) / -32000 (2025), data.code RATE_LIMITED", async () => {
    const slow = { authorization: `Bearer ${SLOW}` };
    await post(call(), { ...callHeaders(), ...slow }); // the one request of the burst
    const modern = await post(call(), { ...callHeaders(), ...slow });
    expectRefusal(modern, 429, -32603, 'RATE_LIMITED');
    expect(modern.headers.get('retry-after')).not.toBeNull();
    expectRefusal(await post(init, { ...LEGACY, ...slow }), 429, -32000, 'RATE_LIMITED');
  });

  it('/mcp/{server} a token may not use: 403 as JSON-RPC, before the body is read (a body over max_body_bytes is not 413)', async () => {
    const scoped = { authorization: `Bearer ${SCOPED}` };
    expectRefusal(await post(call('echo'), { ...callHeaders('echo'), ...scoped }, '/mcp/other'), 403, -32600, 'FORBIDDEN');
    expectRefusal(await post(init, { ...LEGACY, ...scoped }, '/mcp/other'), 403, -32000, 'FORBIDDEN');
    const huge = { ...init, params: { ...init.params, pad: 'x'.repeat(70_000) } };
    expectRefusal(await post(huge, { ...LEGACY, ...scoped }, '/mcp/other'), 403, -32000, 'FORBIDDEN');
    // The backend it may use is served as before.
    expect((await post(call('echo'), { ...callHeaders('echo'), ...scoped }, '/mcp/demo')).status).toBe(200);
  });
});
