import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Malformed input of every kind against /mcp and REST: each gets its
// documented answer — the status and `code` of the REST error table, or the
// JSON-RPC error the MCP transport gives — and the gateway keeps serving.

const TOKEN = 'malformed-admin-token-7e1d';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const JSON_TYPE = { 'content-type': 'application/json' };
const MCP = { ...AUTH, ...JSON_TYPE, accept: 'application/json, text/event-stream' };
const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } },
};

interface Case {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Send the session id of a live session (and its protocol version unless headers say otherwise). */
  session?: boolean;
  status: number;
  /** REST: the `code` of the body. */
  code?: string;
  /** MCP: the JSON-RPC error code (of the body, or of the answer on the SSE stream). */
  rpc?: number;
}

const nest = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const call = (value: unknown): string => JSON.stringify(value);

const CASES: Case[] = [
  // REST bodies
  { name: 'truncated JSON', path: '/call', body: '{"server": ', status: 400, code: 'BAD_REQUEST' },
  { name: 'empty body', path: '/call', body: '', status: 400, code: 'BAD_REQUEST' },
  { name: 'array body', path: '/call', body: '[]', status: 400, code: 'BAD_REQUEST' },
  { name: 'string body', path: '/call', body: '"demo"', status: 400, code: 'BAD_REQUEST' },
  { name: 'JSON with trailing garbage', path: '/call', body: '{"server":"demo","tool":"echo"} x', status: 400, code: 'BAD_REQUEST' },
  { name: 'server of the wrong type', path: '/call', body: call({ server: 5, tool: 'echo' }), status: 400, code: 'BAD_REQUEST' },
  { name: 'arguments as an array', path: '/call', body: call({ server: 'demo', tool: 'echo', arguments: [1, 2] }), status: 400, code: 'BAD_REQUEST' },
  {
    name: 'argument of the wrong type',
    path: '/call',
    body: call({ server: 'demo', tool: 'echo', arguments: { text: 5 } }),
    status: 400,
    code: 'INVALID_ARGUMENTS',
  },
  { name: 'huge server name', path: '/call', body: call({ server: 'a'.repeat(40_000), tool: 'echo' }), status: 404, code: 'UNKNOWN_SERVER' },
  { name: 'tool name with a NUL byte', path: '/call', body: call({ server: 'demo', tool: 'echo\u0000' }), status: 404, code: 'UNKNOWN_TOOL' },
  {
    name: 'body over max_body_bytes',
    path: '/call',
    body: call({ server: 'demo', tool: 'echo', arguments: { text: 'x'.repeat(70_000) } }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'nesting past max_json_depth',
    path: '/call',
    body: call({ server: 'demo', tool: 'echo', arguments: { text: 'x', deep: JSON.parse(nest(40)) as unknown } }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  { name: 'very deep nesting', path: '/call', body: nest(20_000), status: 400, code: 'BAD_REQUEST' },
  {
    name: 'brackets inside strings do not count',
    path: '/call',
    body: call({ server: 'demo', tool: 'echo', arguments: { text: '['.repeat(500) } }),
    status: 200,
  },
  {
    name: 'text/plain',
    path: '/call',
    headers: { ...AUTH, 'content-type': 'text/plain' },
    body: call({ server: 'demo', tool: 'echo' }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  { name: 'no Content-Type', path: '/server/add', headers: AUTH, body: call({ name: 'x' }), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'invalid backend name', path: '/server/add', body: call({ name: 'bad name!', command: 'node' }), status: 400, code: 'BAD_REQUEST' },
  { name: 'stdio backend without command', path: '/server/add', body: call({ name: 'x' }), status: 400, code: 'BAD_REQUEST' },
  { name: 'unknown backend key', path: '/server/add', body: call({ name: 'x', command: 'node', bogus: 1 }), status: 400, code: 'BAD_REQUEST' },
  { name: 'name of the wrong type', path: '/server/remove', body: call({ name: 123 }), status: 400, code: 'BAD_REQUEST' },
  // REST queries and routes
  { name: 'unknown call id', method: 'GET', path: '/call/call_nope', status: 404, code: 'UNKNOWN_CALL' },
  { name: 'wait_ms not a number', method: 'GET', path: '/call/call_nope?wait_ms=abc', status: 400, code: 'BAD_REQUEST' },
  { name: 'negative limit', method: 'GET', path: '/log?limit=-1', status: 400, code: 'BAD_REQUEST' },
  { name: 'unknown status filter', method: 'GET', path: '/log?status=bogus', status: 400, code: 'BAD_REQUEST' },
  { name: 'unknown export format', method: 'GET', path: '/log?format=xml', status: 400, code: 'BAD_REQUEST' },
  { name: 'limit of zero', method: 'GET', path: '/discover?limit=0', status: 400, code: 'BAD_REQUEST' },
  { name: 'unknown route', method: 'GET', path: '/no/such/route', status: 404, code: 'UNKNOWN_ROUTE' },
  { name: 'unknown method', method: 'PUT', path: '/call', body: '{}', status: 404, code: 'UNKNOWN_ROUTE' },
  // Tokens
  {
    name: 'Basic instead of Bearer',
    method: 'GET',
    path: '/tools',
    headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  { name: 'empty Bearer', method: 'GET', path: '/tools', headers: { authorization: 'Bearer ' }, status: 401, code: 'UNAUTHORIZED' },
  { name: 'huge Bearer token', method: 'GET', path: '/tools', headers: { authorization: `Bearer ${'t'.repeat(8_000)}` }, status: 401, code: 'UNAUTHORIZED' },
  { name: 'token with a trailing word', method: 'GET', path: '/tools', headers: { authorization: `Bearer ${TOKEN} extra` }, status: 401, code: 'UNAUTHORIZED' },
  // MCP
  { name: 'MCP: invalid JSON', path: '/mcp', headers: MCP, body: '{"jsonrpc":', status: 400, rpc: -32700 },
  { name: 'MCP: empty body', path: '/mcp', headers: MCP, body: '', status: 400, rpc: -32700 },
  // JSON that is not a JSON-RPC request has no protocol era; the MCP SDK's classification gives it to the
  // 2026-07-28 leg, which answers it as JSON-RPC 2.0 says: -32600 Invalid Request (the 2025 transport said -32700).
  { name: 'MCP: wrong jsonrpc version', path: '/mcp', headers: MCP, body: call({ ...INIT, jsonrpc: '1.0' }), status: 400, rpc: -32600 },
  { name: 'MCP: method of the wrong type', path: '/mcp', headers: MCP, body: call({ jsonrpc: '2.0', id: 1, method: 5 }), status: 400, rpc: -32600 },
  { name: 'MCP: two initializes in a batch', path: '/mcp', headers: MCP, body: call([INIT, { ...INIT, id: 2 }]), status: 400, rpc: -32600 },
  { name: 'MCP: empty batch', path: '/mcp', headers: MCP, body: '[]', status: 400, rpc: -32600 },
  {
    name: 'MCP: batch over 100 messages',
    path: '/mcp',
    headers: MCP,
    body: call(Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' }))),
    status: 400,
    rpc: -32600,
  },
  { name: 'MCP: request before initialize', path: '/mcp', headers: MCP, body: call({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), status: 400, rpc: -32000 },
  {
    name: 'MCP: nesting past max_json_depth',
    path: '/mcp',
    headers: MCP,
    body: call({ ...INIT, params: { ...INIT.params, deep: JSON.parse(nest(40)) as unknown } }),
    status: 400,
    rpc: -32600,
  },
  {
    name: 'MCP: body over max_body_bytes',
    path: '/mcp',
    headers: MCP,
    body: call({ ...INIT, params: { ...INIT.params, pad: 'x'.repeat(70_000) } }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  { name: 'MCP: text/plain', path: '/mcp', headers: { ...MCP, 'content-type': 'text/plain' }, body: call(INIT), status: 415, rpc: -32000 },
  { name: 'MCP: no Accept', path: '/mcp', headers: { ...AUTH, ...JSON_TYPE }, body: call(INIT), status: 406, rpc: -32000 },
  {
    name: 'MCP: unknown session id',
    path: '/mcp',
    headers: { ...MCP, 'mcp-session-id': 'not-a-session' },
    body: call({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    status: 404,
    rpc: -32001,
  },
  { name: 'MCP: GET without a session', method: 'GET', path: '/mcp', headers: { ...AUTH, accept: 'text/event-stream' }, status: 400, rpc: -32000 },
  { name: 'MCP: DELETE without a session', method: 'DELETE', path: '/mcp', headers: AUTH, status: 400, rpc: -32000 },
  {
    name: 'MCP: unsupported protocol version header',
    path: '/mcp',
    session: true,
    headers: { ...MCP, 'mcp-protocol-version': '1999-01-01' },
    body: call({ jsonrpc: '2.0', id: 3, method: 'ping' }),
    status: 400,
    rpc: -32000,
  },
  { name: 'MCP: initialize again in a session', path: '/mcp', session: true, headers: MCP, body: call(INIT), status: 400, rpc: -32600 },
  {
    name: 'MCP: unknown method',
    path: '/mcp',
    session: true,
    headers: MCP,
    body: call({ jsonrpc: '2.0', id: 4, method: 'no/such/method' }),
    status: 200,
    rpc: -32601,
  },
  {
    name: 'MCP: tools/call with a name of the wrong type',
    path: '/mcp',
    session: true,
    headers: MCP,
    body: call({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 5 } }),
    status: 200,
    rpc: -32602,
  },
  {
    name: 'MCP: tools/call with arguments that are not an object',
    path: '/mcp',
    session: true,
    headers: MCP,
    body: call({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'demo__echo', arguments: [1] } }),
    status: 200,
    rpc: -32602,
  },
  {
    name: 'MCP: tools/call of an unknown tool',
    path: '/mcp',
    session: true,
    headers: MCP,
    body: call({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'nope__nope', arguments: {} } }),
    status: 200,
    rpc: -32602,
  },
  { name: 'MCP: a response nobody asked for', path: '/mcp', session: true, headers: MCP, body: call({ jsonrpc: '2.0', id: 99, result: {} }), status: 202 },
  { name: 'MCP: unknown backend endpoint', path: '/mcp/nope', headers: MCP, body: call(INIT), status: 404, code: 'UNKNOWN_SERVER' },
  { name: 'MCP: unknown method on /mcp', method: 'PUT', path: '/mcp', headers: MCP, body: call(INIT), status: 404, code: 'UNKNOWN_ROUTE' },
  {
    name: 'legacy SSE: unknown session',
    path: '/messages?sessionId=nope',
    headers: { ...AUTH, ...JSON_TYPE },
    body: call({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    status: 404,
    code: 'UNKNOWN_ROUTE',
  },
];

/** The JSON-RPC error of a body, or of the answer on an SSE stream. */
function rpcCode(text: string): number | undefined {
  const messages = text.startsWith('{')
    ? [text]
    : text
        .split('\n')
        .filter((line) => line.startsWith('data: ') && line.length > 6)
        .map((line) => line.slice(6));
  for (const raw of messages) {
    const message = JSON.parse(raw) as { error?: { code: number } };
    if (message.error !== undefined) return message.error.code;
  }
  return undefined;
}

let gw: RunningGateway;
let session = '';

beforeAll(async () => {
  gw = await startGateway(
    `
[gateway]
max_body_bytes = 65536
max_json_depth = 32

[coordination]
enabled = false

[[auth.tokens]]
name = "fuzzer"
role = "admin"
token = "\${FUZZ_TOKEN}"

${demoBackend()}
`,
    { env: { FUZZ_TOKEN: TOKEN } },
  );
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
  const init = await fetch(`${gw.url}/mcp`, { method: 'POST', headers: MCP, body: call(INIT) });
  session = init.headers.get('mcp-session-id') ?? '';
  await init.text();
  await fetch(`${gw.url}/mcp`, {
    method: 'POST',
    headers: { ...MCP, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
    body: call({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
});
afterAll(stopAll);

describe('malformed input', () => {
  it(`has ${CASES.length} cases`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  it.each(CASES)('$name → $status', async (c) => {
    const headers: Record<string, string> = { ...(c.headers ?? { ...AUTH, ...JSON_TYPE }) };
    if (c.session === true) {
      headers['mcp-session-id'] = session;
      headers['mcp-protocol-version'] ??= '2025-06-18';
    }
    const res = await fetch(`${gw.url}${c.path}`, { method: c.method ?? 'POST', headers, body: c.body });
    const text = await res.text();
    expect(res.status, text.slice(0, 300)).toBe(c.status);
    if (c.code !== undefined) expect((JSON.parse(text) as { code: string }).code).toBe(c.code);
    if (c.rpc !== undefined) expect(rpcCode(text), text.slice(0, 300)).toBe(c.rpc);
  });

  it('keeps serving afterwards: REST and MCP calls succeed, the session still works, nothing was an internal error', async () => {
    const rest = await gw.request('GET', '/health');
    expect(rest.status).toBe(200);
    const echo = await fetch(`${gw.url}/call`, {
      method: 'POST',
      headers: { ...AUTH, ...JSON_TYPE },
      body: call({ server: 'demo', tool: 'echo', arguments: { text: 'still here' } }),
    });
    expect(((await echo.json()) as { result: CallToolResult }).result.content[0]).toEqual({ type: 'text', text: 'still here' });
    const ping = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
      body: call({ jsonrpc: '2.0', id: 77, method: 'ping' }),
    });
    expect(ping.status).toBe(200);
    expect(await ping.text()).toContain('"id":77');
    const client = new Client({ name: 'after-fuzz', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: AUTH } }));
    const result = (await client.callTool({ name: 'demo__echo', arguments: { text: 'mcp ok' } })) as CallToolResult;
    expect(result.content[0]).toEqual({ type: 'text', text: 'mcp ok' });
    await client.close();
    expect(gw.proc.exitCode).toBeNull();
    expect(gw.logs.filter((l) => l.level >= 50)).toEqual([]);
  });
});
