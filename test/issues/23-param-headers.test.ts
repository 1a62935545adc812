import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #23 items 2 and 7: a backend tool whose inputSchema marks properties
 * with `x-mcp-header` gets its values back from a 2026-07-28 client as
 * `Mcp-Param-*` headers, and the gateway checks them against the body
 * before relaying the call: missing or different is 400 -32020, as the
 * streamable-http page says (Base64 sentinel decoded, integers compared as
 * numbers, a null or absent value needs no header). A `_meta` over
 * [gateway] max_meta_bytes is 400 -32602 on the modern leg; 2025 sessions
 * see neither check.
 */

const V = '2026-07-28';
let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(
    `[gateway]\nmax_meta_bytes = 2048\n\n[[backends]]\nname = "params"\ncommand = "node"\nargs = [${q(fixture('param-header-server'))}]\n`,
  );
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'params');
});
afterAll(stopAll);

const envelope = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  'io.modelcontextprotocol/protocolVersion': V,
  'io.modelcontextprotocol/clientInfo': { name: 'params', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
  ...extra,
});

interface Answer {
  status: number;
  body: { result?: { content?: { text: string }[] }; error?: { code: number; message: string; data?: Record<string, unknown> } };
}

/** POSTs a modern tools/call of `name` with `args` to `path`, with the standard headers and `headers` on top. */
async function call(
  args: Record<string, unknown>,
  headers: Record<string, string> = {},
  name = 'params__route',
  path = '/mcp',
  meta = envelope(),
): Promise<Answer> {
  const response = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': V,
      'mcp-method': 'tools/call',
      'mcp-name': name,
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args, _meta: meta } }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

const b64 = (s: string): string => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

function expectMismatch(answer: Answer, header: string): void {
  expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status: 400, code: -32020 });
  expect(answer.body.error?.message).toContain(header);
}

function expectServed(answer: Answer, args: Record<string, unknown>): void {
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body.result?.content?.[0]?.text ?? 'null')).toEqual(args);
}

describe('issue 23.2/7: Mcp-Param-* headers of a tool with x-mcp-header', () => {
  it('a 2026-07-28 SDK client mirrors the marked arguments and its call goes through', async () => {
    const client = new Client({ name: 'params', version: '1' }, { versionNegotiation: { mode: { pin: V } } } as ConstructorParameters<typeof Client>[1]);
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    try {
      const { tools } = await client.listTools();
      const route = tools.find((t) => t.name === 'params__route');
      expect(route?.inputSchema.properties?.region).toMatchObject({ 'x-mcp-header': 'Region' });
      const args = { region: 'Zürich ', count: 3, options: { verbose: true } };
      const result = await client.callTool({ name: 'params__route', arguments: args });
      expect(JSON.parse((result.content as { text: string }[])[0]?.text ?? 'null')).toEqual(args);
    } finally {
      await client.close();
    }
  });

  it('matching headers are served: plain, Base64, an integer written as 3.0', async () => {
    const args = { region: 'eu-west', count: 3, options: { verbose: false } };
    expectServed(await call(args, { 'mcp-param-region': 'eu-west', 'mcp-param-count': '3', 'mcp-param-verbose': 'false' }), args);
    expectServed(await call(args, { 'mcp-param-region': b64('eu-west'), 'mcp-param-count': '3.0', 'mcp-param-verbose': 'false' }), args);
    expectServed(await call({ region: 'Hello, 世界' }, { 'mcp-param-region': b64('Hello, 世界') }), { region: 'Hello, 世界' });
  });

  it('a value that is absent or null needs no header', async () => {
    // null is not an integer: the gateway's schema check answers it (an isError result), not the header check.
    const nulled = await call({ region: 'x', count: null }, { 'mcp-param-region': 'x' });
    expect(nulled.status).toBe(200);
    expect(nulled.body.result?.content?.[0]?.text).toMatch(/^INVALID_ARGUMENTS/);
    expectServed(await call({ region: 'x', options: {} }, { 'mcp-param-region': 'x' }), { region: 'x', options: {} });
  });

  it.each([
    ['a missing header', { region: 'eu' }, {}, 'Mcp-Param-Region'],
    ['a different value', { region: 'eu' }, { 'mcp-param-region': 'us' }, 'Mcp-Param-Region'],
    ['a Base64 value of another text', { region: 'eu' }, { 'mcp-param-region': b64('us') }, 'Mcp-Param-Region'],
    ['a broken Base64 sentinel', { region: 'eu' }, { 'mcp-param-region': '=?base64?!!?=' }, 'Mcp-Param-Region'],
    ['a value with characters outside ASCII, sent raw (not Base64)', { region: 'Zürich' }, { 'mcp-param-region': 'Zürich' }, 'Mcp-Param-Region'],
    ['another integer', { region: 'eu', count: 3 }, { 'mcp-param-region': 'eu', 'mcp-param-count': '4' }, 'Mcp-Param-Count'],
    ['a nested boolean without its header', { region: 'eu', options: { verbose: true } }, { 'mcp-param-region': 'eu' }, 'Mcp-Param-Verbose'],
  ])('%s is 400 -32020', async (_case, args, headers, header) => {
    expectMismatch(await call(args, headers), header);
  });

  it('/mcp/{server} checks the tool under its own name', async () => {
    expectMismatch(await call({ region: 'eu' }, {}, 'route', '/mcp/params'), 'Mcp-Param-Region');
    expectServed(await call({ region: 'eu' }, { 'mcp-param-region': 'eu' }, 'route', '/mcp/params'), { region: 'eu' });
  });

  it('a 2025 session calls the same tool without Mcp-Param-* headers', async () => {
    const client = new Client({ name: 'params-2025', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    try {
      expect(client.getProtocolEra()).toBe('legacy');
      const result = await client.callTool({ name: 'params__route', arguments: { region: 'eu', _pad: 'x'.repeat(3000) } });
      expect(result.isError).not.toBe(true);
    } finally {
      await client.close();
    }
  });
});

describe('issue 23.7: an oversized _meta', () => {
  it('a modern request whose _meta is over [gateway] max_meta_bytes is 400 -32602 naming the limit', async () => {
    const answer = await call({ region: 'eu' }, { 'mcp-param-region': 'eu' }, 'params__route', '/mcp', envelope({ 'com.example/pad': 'x'.repeat(3000) }));
    expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status: 400, code: -32602 });
    expect(answer.body.error?.message).toMatch(/2048-byte limit \(\[gateway\] max_meta_bytes\)/);
  });

  it('one under the limit is served', async () => {
    const answer = await call({ region: 'eu' }, { 'mcp-param-region': 'eu' }, 'params__route', '/mcp', envelope({ 'com.example/pad': 'x'.repeat(1000) }));
    expectServed(answer, { region: 'eu' });
  });

  it('a 2025 session request with a large _meta is not affected', async () => {
    const client = new Client({ name: 'meta-2025', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    try {
      const result = await client.callTool({ name: 'params__route', arguments: { region: 'eu' }, _meta: { 'com.example/pad': 'x'.repeat(3000) } });
      expect(JSON.parse((result.content as { text: string }[])[0]?.text ?? 'null')).toEqual({ region: 'eu' });
    } finally {
      await client.close();
    }
  });
});
