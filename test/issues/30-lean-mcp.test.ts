import { type IncomingHttpHeaders, request } from 'node:http';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * #30 the lean /mcp front path (src/http/mcp-lean.ts): a plain tools/call
 * on a 2025 session or a 2026-07-28 request is answered without the SDK
 * transport (and, for 2026-07-28, without an SDK server per request). It is
 * seen from outside in stonegate_mcp_lean_calls_total{era}; its answers
 * must be the SDK path's (the same request with a query string goes through
 * Hono's chain, which never takes the lean path); what it does not take
 * (progress) stays on the SDK path (a client that takes sampling or
 * elicitation: 30-lean-mcp-asks.test.ts); cancellation reaches the backend from a lean call.
 */

const ADMIN = 'tok-admin-30-lean';
const ALICE = 'tok-alice-30-lean';
const BOB = 'tok-bob-30-lean-0123';
const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(
    `
[gateway]
max_body_bytes = 8192
max_meta_bytes = 1024

[auth]
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${L30_ADMIN}"

[[auth.tokens]]
name = "alice"
token = "\${L30_ALICE}"

[[auth.tokens]]
name = "bob"
token = "\${L30_BOB}"

${demoBackend()}
`,
    { env: { L30_ADMIN: ADMIN, L30_ALICE: ALICE, L30_BOB: BOB } },
  );
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

/** stonegate_mcp_lean_calls_total of one era ('2025' or '2026-07-28'). */
async function leanCount(era: '2025' | '2026-07-28'): Promise<number> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`stonegate_mcp_lean_calls_total{era="${era}"}`));
  if (line === undefined) throw new Error('no stonegate_mcp_lean_calls_total in /metrics');
  return Number(line.split(' ').pop());
}

async function connect(path: string, era: 'legacy' | 'modern', capabilities: Record<string, unknown> = {}): Promise<Client> {
  const negotiation = era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {};
  const client = new Client({ name: `lean-${era}`, version: '1' }, { capabilities, ...negotiation } as ConstructorParameters<typeof Client>[1]);
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`), { requestInit: { headers: { authorization: `Bearer ${ALICE}` } } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;
const ERA = { legacy: '2025', modern: '2026-07-28' } as const;

describe('#30 a plain tools/call takes the lean path', () => {
  it.each([
    ['legacy', '/mcp', 'demo__echo'],
    ['modern', '/mcp', 'demo__echo'],
    ['legacy', '/mcp/demo', 'echo'],
    ['modern', '/mcp/demo', 'echo'],
  ] as const)('a %s client on %s', async (era, path, tool) => {
    const client = await connect(path, era);
    const before = await leanCount(ERA[era]);
    expect(text(await client.callTool({ name: tool, arguments: { text: `lean ${era}` } }))).toBe(`lean ${era}`);
    const failed = (await client.callTool({ name: tool.replace('echo', 'fail'), arguments: { message: 'on purpose' } })) as CallToolResult;
    expect(failed.isError).toBe(true);
    expect(await leanCount(ERA[era])).toBe(before + 2);
    // An unknown tool: the SDK path's -32602 (on 2025 sessions the lean path answers it itself).
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/Unknown tool: no_such_tool/);
  });

  it.each(['legacy', 'modern'] as const)('runs the gateway tools of a %s client on the lean path', async (era) => {
    const client = await connect('/mcp', era);
    const before = await leanCount(ERA[era]);
    expect(text(await client.callTool({ name: 'gate_discover', arguments: { query: 'echo' } }))).toContain('demo__echo');
    expect(await leanCount(ERA[era])).toBe(before + 1);
  });

  it('leaves progress to the SDK path (clients that take sampling or elicitation: 30-lean-mcp-asks)', async () => {
    const plain = await connect('/mcp', 'legacy');
    const before = await leanCount('2025');
    const progress: number[] = [];
    expect(text(await plain.callTool({ name: 'demo__sleep', arguments: { ms: 250 } }, { onprogress: (p) => progress.push(p.progress) }))).toBe('slept 250 ms');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(await leanCount('2025')).toBe(before);
  });

  it('cancels a lean call at the backend when the client cancels it', async () => {
    const client = await connect('/mcp', 'legacy');
    const before = await leanCount('2025');
    const controller = new AbortController();
    const call = client.callTool({ name: 'demo__sleep', arguments: { ms: 30_000 } }, { signal: controller.signal });
    await eventually(async () => (await leanCount('2025')) === before + 1);
    controller.abort('test cancels');
    await expect(call).rejects.toThrow();
    await gw.waitForLog((l) => l.backend === 'demo' && l.msg === 'demo: sleep cancelled');
  });
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

function send(path: string, headers: Record<string, string>, body: string): Promise<Answer> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'POST', headers }, (res) => {
      let raw = '';
      res.on('data', (d: Buffer) => (raw += d.toString()));
      res.on('end', () => {
        let parsed: unknown = raw;
        try {
          parsed = JSON.parse(raw);
        } catch {
          // not JSON: compared as text
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What must match between the lean path and the SDK path. */
const shape = (a: Answer): unknown => ({ status: a.status, body: a.body, type: a.headers['content-type'], session: a.headers['mcp-session-id'] });

const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'lean-raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** A 2026-07-28 envelope that declares elicitation: a 2025-era backend's call goes through the input bridge. */
const ASKING_META = { ...MODERN_META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };

/** Answers an input_required answer's elicitation with a retry (so the parked call ends), and checks the call completes. */
async function answerInput(path: string, name: string, args: Record<string, unknown>, first: Answer): Promise<void> {
  const { inputRequests, requestState } = (first.body as { result: { inputRequests: Record<string, unknown>; requestState: string } }).result;
  const key = Object.keys(inputRequests)[0] as string;
  const retry = {
    jsonrpc: '2.0',
    id: 'retry',
    method: 'tools/call',
    params: { name, arguments: args, inputResponses: { [key]: { action: 'accept', content: { answer: 'ada' } } }, requestState, _meta: ASKING_META },
  };
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${ALICE}`,
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call',
    'mcp-name': name,
  };
  const done = await send(path, headers, JSON.stringify(retry));
  expect(JSON.stringify(done.body)).toContain('ada');
}

describe('#30 the lean path answers as the SDK path does', () => {
  let session: Record<string, string>;
  const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${ALICE}` };

  beforeAll(async () => {
    const init = await send(
      '/mcp',
      base,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    );
    session = { ...base, 'mcp-session-id': String(init.headers['mcp-session-id']), 'mcp-protocol-version': '2025-06-18' };
    expect((await send('/mcp', session, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }))).status).toBe(202);
  });

  const legacy = (params: Record<string, unknown>, id: number | string = 3): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params });
  const modern = (name: string, args: unknown, meta: Record<string, unknown> = MODERN_META): string =>
    JSON.stringify({ jsonrpc: '2.0', id: 'm-1', method: 'tools/call', params: { name, arguments: args, _meta: meta } });
  const bigInfo = { ...MODERN_META, 'io.modelcontextprotocol/clientInfo': { name: 'lean-raw', version: '1', title: 't'.repeat(1500) } };
  const modernHeaders = (name: string): Record<string, string> => ({
    ...base,
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call',
    'mcp-name': name,
  });

  it.each([
    ['2025: a call', '/mcp', () => session, legacy({ name: 'demo__echo', arguments: { text: 'same' } }), true],
    ['2025: a string id and _meta', '/mcp', () => session, legacy({ name: 'demo__echo', arguments: { text: 'same' }, _meta: { note: 1 } }, 'abc'), true],
    ['2025: a tool error', '/mcp', () => session, legacy({ name: 'demo__fail', arguments: { message: 'x' } }), true],
    ['2025: an unknown tool', '/mcp', () => session, legacy({ name: 'nope', arguments: {} }), true],
    ['2025: a gateway tool', '/mcp', () => session, legacy({ name: 'gate_discover', arguments: { query: 'echo' } }), true],
    ['2025: a body over max_body_bytes', '/mcp', () => session, legacy({ name: 'demo__echo', arguments: { text: 'x'.repeat(9000) } }), false],
    ['2025: arguments not an object', '/mcp', () => session, legacy({ name: 'demo__echo', arguments: 'x' }), false],
    [
      '2025: an unknown session',
      '/mcp',
      () => ({ ...session, 'mcp-session-id': 'not-a-session' }),
      legacy({ name: 'demo__echo', arguments: { text: 'x' } }),
      false,
    ],
    [
      '2025: another token on the session',
      '/mcp',
      () => ({ ...session, authorization: `Bearer ${BOB}` }),
      legacy({ name: 'demo__echo', arguments: {} }),
      false,
    ],
    ['2025: a wrong token', '/mcp', () => ({ ...session, authorization: 'Bearer wrong' }), legacy({ name: 'demo__echo', arguments: {} }), false],
    ['2026-07-28: a call', '/mcp', () => modernHeaders('demo__echo'), modern('demo__echo', { text: 'same' }), true],
    ['2026-07-28: a tool error', '/mcp', () => modernHeaders('demo__fail'), modern('demo__fail', { message: 'x' }), true],
    ['2026-07-28: /mcp/demo', '/mcp/demo', () => modernHeaders('echo'), modern('echo', { text: 'same' }), true],
    ['2026-07-28: large arguments', '/mcp', () => modernHeaders('demo__echo'), modern('demo__echo', { text: 'y'.repeat(3000) }), true],
    ['2026-07-28: _meta over max_meta_bytes', '/mcp', () => modernHeaders('demo__echo'), modern('demo__echo', { text: 'x' }, bigInfo), false],
    ['2026-07-28: a gateway tool', '/mcp', () => modernHeaders('gate_discover'), modern('gate_discover', { query: 'echo' }), true],
    ['2026-07-28: a caller that can be asked', '/mcp', () => modernHeaders('demo__echo'), modern('demo__echo', { text: 'same' }, ASKING_META), true],
    ['2026-07-28: an unknown tool', '/mcp', () => modernHeaders('nope'), modern('nope', {}), false],
    ['2026-07-28: bad params', '/mcp', () => modernHeaders('demo__echo'), modern('demo__echo', 7), false],
    ['2026-07-28: Mcp-Name differs', '/mcp', () => modernHeaders('demo__add'), modern('demo__echo', { text: 'x' }), false],
  ] as const)('%s', async (_label, path, headers, body, taken) => {
    const era = path === '/mcp' && 'mcp-session-id' in headers() ? '2025' : '2026-07-28';
    const before = await leanCount(era);
    const lean = await send(path, headers(), body);
    expect(await leanCount(era)).toBe(before + (taken ? 1 : 0));
    const sdk = await send(`${path}?via=sdk`, headers(), body);
    expect(await leanCount(era)).toBe(before + (taken ? 1 : 0));
    expect(shape(lean)).toEqual(shape(sdk));
    expect(lean.headers['content-length']).toBeDefined();
  });

  it("2026-07-28: a backend's input request (input_required, stamped with the server's identity) is answered alike but for its state", async () => {
    const body = modern('demo__elicit', { message: 'who?' }, ASKING_META);
    const before = await leanCount('2026-07-28');
    // Each parked call is answered before the next starts: a shared connection attributes no request while another call is parked on it.
    const lean = await send('/mcp', modernHeaders('demo__elicit'), body);
    await answerInput('/mcp', 'demo__elicit', { message: 'who?' }, lean);
    const sdk = await send('/mcp?via=sdk', modernHeaders('demo__elicit'), body);
    await answerInput('/mcp', 'demo__elicit', { message: 'who?' }, sdk);
    expect(await leanCount('2026-07-28')).toBe(before + 1);
    const masked = (a: Answer): unknown => {
      const { requestState, ...rest } = (a.body as { result: { requestState?: unknown } }).result;
      expect(typeof requestState).toBe('string');
      return { ...(shape(a) as object), body: { ...(a.body as object), result: rest } };
    };
    expect(masked(lean)).toEqual(masked(sdk));
    expect((lean.body as { result: { resultType: string } }).result.resultType).toBe('input_required');
  });
});

/** stonegate_mcp_bridged_calls_total of one `input` label ('askable' or 'none'). */
async function bridgedCount(input: 'askable' | 'none'): Promise<number> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`stonegate_mcp_bridged_calls_total{input="${input}"}`));
  if (line === undefined) throw new Error('no stonegate_mcp_bridged_calls_total in /metrics');
  return Number(line.split(' ').pop());
}

describe('#30 a 2026-07-28 caller that cannot be asked for input skips the input bridge', () => {
  const headers = (name: string): Record<string, string> => ({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${ALICE}`,
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call',
    'mcp-name': name,
  });
  const body = (name: string, args: Record<string, unknown>, capabilities: Record<string, unknown>): string =>
    JSON.stringify({
      jsonrpc: '2.0',
      id: `b-${name}`,
      method: 'tools/call',
      params: { name, arguments: args, _meta: { ...MODERN_META, 'io.modelcontextprotocol/clientCapabilities': capabilities } },
    });

  it.each([
    ['/mcp', 'demo__echo'],
    ['/mcp/demo', 'echo'],
    ['/mcp?via=sdk', 'demo__echo'],
  ])('a caller without sampling or elicitation on %s: no bridge, the same answer', async (path, tool) => {
    const [none, askable] = [await bridgedCount('none'), await bridgedCount('askable')];
    const plain = await send(path, headers(tool), body(tool, { text: 'unasked' }, {}));
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ result: { content: [{ type: 'text', text: 'unasked' }], resultType: 'complete' } });
    // The same call by a caller that could be asked goes through the bridge, and is answered alike.
    const asking = await send(path, headers(tool), body(tool, { text: 'unasked' }, { elicitation: {} }));
    expect(asking.body).toEqual(plain.body);
    expect([await bridgedCount('none'), await bridgedCount('askable')]).toEqual([none + 1, askable + 1]);
  });

  it("a backend's elicitation is refused to it at once, as the bridge refused it; a caller that declared it is asked", async () => {
    const none = await bridgedCount('none');
    const refused = await send('/mcp', headers('demo__elicit'), body('demo__elicit', { message: 'who?' }, {}));
    expect(refused.status).toBe(200);
    const result = (refused.body as { result: { isError?: boolean; resultType?: string; content: { text: string }[] } }).result;
    expect(result.resultType).toBe('complete');
    expect(JSON.stringify(result.content)).toMatch(/stonegate refused elicitation\/create: .*did not declare the 'elicitation' client capability/);
    expect(await bridgedCount('none')).toBe(none + 1);
    const asked = await send('/mcp', headers('demo__elicit'), body('demo__elicit', { message: 'who?' }, { elicitation: {} }));
    expect((asked.body as { result: { resultType?: string } }).result.resultType).toBe('input_required');
    await answerInput('/mcp', 'demo__elicit', { message: 'who?' }, asked);
  });
});
