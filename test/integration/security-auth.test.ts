import { createHash } from 'node:crypto';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, demoBackend, eventually, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { recordingClients } from '../helpers/recording-client.js';

// Bearer tokens end to end, against a real gateway with real children:
// 401s, scoped tokens, admin routes, coord identity, session and async-call
// ownership, rate and concurrency limits, the audit log, and sentinel
// secrets that must never come back in a response or a log line.

const SECRETS = {
  admin: 'tok-admin-SENTINEL-4b1f9e27c0d84a6f',
  alice: 'tok-alice-SENTINEL-93c2a7d1e5f04b88',
  bob: 'tok-bob-SENTINEL-0d5e8a2c7b9f4613',
  limited: 'tok-limited-SENTINEL-6a4c1e9f2b7d8035',
  single: 'tok-single-SENTINEL-e2b7c4a91f0d6358',
  env: 'env-SENTINEL-5f8e2a9c1d7b4036',
  header: 'hdr-SENTINEL-a7c3e1f94b2d8605',
};

let gw: RunningGateway;
let remote: RunningGateway;
/** Every response body this file saw (`seen`), for the sentinel check. */
const { seen, call, mcp, text, errorCode, closeClients } = recordingClients(() => gw.url);

const names = (list: unknown): string[] => (list as { name: string }[]).map((x) => x.name);

beforeAll(async () => {
  remote = await startGateway(`
[coordination]
enabled = false

${demoBackend()}
`);
  gw = await startGateway(
    `
[coordination]
enabled = true

[auth]
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${SEC_ADMIN}"

[[auth.tokens]]
name = "alice"
token = "\${SEC_ALICE}"
servers = ["demo", "coord"]

[[auth.tokens]]
name = "bob"
hash = "sha256:${createHash('sha256').update(SECRETS.bob).digest('hex')}"

[[auth.tokens]]
name = "limited"
token = "\${SEC_LIMITED}"
servers = ["demo"]
rate_limit = 1
burst = 2

[[auth.tokens]]
name = "single"
token = "\${SEC_SINGLE}"
max_concurrent = 1

${demoBackend()}
env = { DEMO_API_KEY = "\${SEC_ENV}" }

[[backends]]
name = "other"
command = "node"
args = [${q(DEMO)}]

[[backends]]
name = "remote"
transport = "http"
url = ${q(`${remote.url}/mcp/demo`)}
headers = { "X-Api-Key" = "\${SEC_HEADER}" }
`,
    {
      args: ['--log-level', 'debug'],
      env: {
        SEC_ADMIN: SECRETS.admin,
        SEC_ALICE: SECRETS.alice,
        SEC_LIMITED: SECRETS.limited,
        SEC_SINGLE: SECRETS.single,
        SEC_ENV: SECRETS.env,
        SEC_HEADER: SECRETS.header,
      },
    },
  );
  for (const name of ['demo', 'other', 'remote', 'coord']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(closeClients);
afterAll(stopAll);

describe('bearer tokens', () => {
  it('answers 401 with WWW-Authenticate on REST, MCP and /coord without a valid token; /health stays open', async () => {
    const probes: [string, string, unknown?][] = [
      ['GET', '/tools'],
      ['POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'x' } }],
      ['GET', '/server/list'],
      ['GET', '/metrics'],
      [
        'POST',
        '/mcp',
        { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } },
      ],
      ['GET', '/sse'],
      ['POST', '/messages?sessionId=x', { jsonrpc: '2.0', method: 'ping', id: 1 }],
      ['GET', '/'],
      ['GET', '/coord/agent/discover'],
      ['POST', '/coord/msg/send', { from: 'alice', to: 'bob', content: 'hi' }],
    ];
    for (const [method, path, body] of probes) {
      const none = await call(method, path, { body });
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="stonegate"');
      const code =
        path === '/' || path.startsWith('/mcp') || path.startsWith('/sse') || path.startsWith('/messages')
          ? (none.body.error as { data: { code: string } }).data.code
          : none.body.code;
      expect(code, `${method} ${path}`).toBe('UNAUTHORIZED');
      const wrong = await call(method, path, { body, token: 'not-a-token-of-this-gateway' });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="stonegate", error="invalid_token"');
    }
    const client = new Client({ name: 'no-token', version: '1' });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)))).rejects.toThrow();
    expect((await call('GET', '/health')).status).toBe(200);
    // A token given by its hash works like one read from the environment.
    expect((await call('GET', '/tools', { token: SECRETS.bob })).status).toBe(200);
  });

  it('lets a token limited to backends see and call only those (REST and MCP)', async () => {
    const tools = await call('GET', '/tools', { token: SECRETS.alice });
    expect(new Set((tools.body.tools as { server: string }[]).map((t) => t.server))).toEqual(new Set(['demo', 'coord']));
    expect(new Set(names((await call('GET', '/server/list', { token: SECRETS.alice })).body.servers))).toEqual(new Set(['demo', 'coord']));
    expect(new Set(names((await call('GET', '/server/list', { token: SECRETS.admin })).body.servers))).toEqual(new Set(['demo', 'other', 'remote', 'coord']));
    const found = await call('GET', '/discover?query=echo', { token: SECRETS.alice });
    expect((found.body.tools as { server: string }[]).every((t) => t.server === 'demo')).toBe(true);
    expect(Object.keys((await call('GET', '/stats', { token: SECRETS.alice })).body.backends as object).every((s) => ['demo', 'coord'].includes(s))).toBe(true);
    for (const [method, path, body] of [
      ['POST', '/call', { server: 'other', tool: 'echo', arguments: { text: 'x' } }],
      ['POST', '/call/async', { server: 'other', tool: 'echo', arguments: { text: 'x' } }],
      ['GET', '/tools/other'],
      ['GET', '/schema/other/echo'],
      ['GET', '/discover?server=other'],
      ['GET', '/metrics'],
    ] as [string, string, unknown?][]) {
      const refused = await call(method, path, { token: SECRETS.alice, body });
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(refused.body.code).toBe('FORBIDDEN');
    }
    expect((await call('POST', '/call', { token: SECRETS.alice, body: { server: 'demo', tool: 'echo', arguments: { text: 'mine' } } })).status).toBe(200);

    const client = await mcp(SECRETS.alice);
    const listed = (await client.listTools()).tools.map((t) => t.name);
    expect(listed).toContain('demo__echo');
    expect(listed).toContain('coord__mux_send');
    expect(listed.filter((n) => n.startsWith('other__') || n.startsWith('remote__'))).toEqual([]);
    const discovered = JSON.parse(text(await client.callTool({ name: 'gate_discover', arguments: { query: 'echo' } }))) as { tools: { server: string }[] };
    expect(discovered.tools.length).toBeGreaterThan(0);
    expect(discovered.tools.every((t) => t.server === 'demo')).toBe(true);
    const status = JSON.parse(text(await client.callTool({ name: 'gate_status', arguments: {} }))) as { servers: { name: string }[] };
    expect(new Set(names(status.servers))).toEqual(new Set(['demo', 'coord']));
    for (const name of ['gate_call', 'gate_call_async']) {
      expect(errorCode(await client.callTool({ name, arguments: { server: 'other', tool: 'echo', arguments: { text: 'x' } } }))).toBe('FORBIDDEN');
    }
    expect(errorCode(await client.callTool({ name: 'gate_status', arguments: { server: 'other' } }))).toBe('FORBIDDEN');
    await expect(client.callTool({ name: 'other__echo', arguments: { text: 'x' } })).rejects.toMatchObject({ code: -32602 });
    expect(text(await client.callTool({ name: 'gate_call', arguments: { server: 'demo', tool: 'echo', arguments: { text: 'via gate' } } }))).toBe('via gate');

    // ?servers= narrows the token's list and cannot widen it.
    const narrowed = await mcp(SECRETS.alice, '/mcp?servers=demo,other');
    const narrowNames = (await narrowed.listTools()).tools.map((t) => t.name).filter((n) => !n.startsWith('gate_'));
    expect(narrowNames.length).toBeGreaterThan(0);
    expect(narrowNames.every((n) => n.startsWith('demo__'))).toBe(true);
    const single = await call('POST', '/mcp/other', { token: SECRETS.alice, body: {}, headers: { accept: 'application/json, text/event-stream' } });
    expect(single.status).toBe(403);
  });

  it('keeps admin routes for admin tokens (403 for an agent token)', async () => {
    const admin: [string, string, unknown?][] = [
      ['POST', '/server/add', { name: 'x', command: 'node', args: [DEMO] }],
      ['POST', '/server/remove', { name: 'demo' }],
      ['POST', '/server/start', { name: 'demo' }],
      ['POST', '/server/stop', { name: 'demo' }],
      ['POST', '/server/restart', { name: 'demo' }],
      ['POST', '/server/approve', { name: 'demo' }],
      ['GET', '/config'],
      ['GET', '/log'],
      ['GET', '/log/export'],
    ];
    for (const [method, path, body] of admin) {
      for (const token of [SECRETS.alice, SECRETS.bob]) {
        const refused = await call(method, path, { token, body });
        expect(refused.status, `${method} ${path}`).toBe(403);
        expect(refused.body.code).toBe('FORBIDDEN');
      }
    }
    // Spellings of an admin path either reach the guard as that path or match no route.
    for (const path of ['/%63onfig', '//config', '/config/', '/CONFIG', '/log%2Fexport', '/x/../config']) {
      expect([403, 404], path).toContain((await call('GET', path, { token: SECRETS.alice })).status);
    }
    expect((await call('POST', '/server/%61dd', { token: SECRETS.alice, body: { name: 'x', command: 'node', args: [DEMO] } })).status).toBe(403);
    const config = await call('GET', '/config', { token: SECRETS.admin });
    expect(config.status).toBe(200);
    expect((config.body.auth as { tokens: { name: string; token?: string }[] }).tokens.find((t) => t.name === 'alice')?.token).toBe('[redacted]');
    // Still running: none of the refused lifecycle calls reached the supervisor.
    expect(
      ((await call('GET', '/server/list', { token: SECRETS.admin })).body.servers as { name: string; status: string }[]).find((s) => s.name === 'demo')?.status,
    ).toBe('running');
  });

  it('lets a token act on coord only as itself, and keeps coord from tokens that do not list it', async () => {
    expect((await call('GET', '/coord/agent/discover', { token: SECRETS.limited })).status).toBe(403);
    const forged = await call('POST', '/coord/msg/send', { token: SECRETS.alice, body: { from: 'bob', to: 'alice', content: 'forged' } });
    expect(forged.status).toBe(403);
    expect(forged.body.code).toBe('FORBIDDEN');
    expect((await call('GET', '/coord/msg/poll?agent_id=bob', { token: SECRETS.alice })).status).toBe(403);
    expect((await call('POST', '/coord/agent/register', { token: SECRETS.alice, body: { agent_id: 'alice', role: 'writer' } })).status).toBe(200);
    expect((await call('POST', '/coord/agent/register', { token: SECRETS.admin, body: { agent_id: 'bob', role: 'reader' } })).status).toBe(200);
    expect((await call('POST', '/coord/msg/send', { token: SECRETS.alice, body: { from: 'alice', to: 'bob', content: 'hi' } })).status).toBe(200);
    // An admin token may act for any agent.
    expect((await call('POST', '/coord/msg/send', { token: SECRETS.admin, body: { from: 'bob', to: 'alice', content: 'from ops' } })).status).toBe(200);

    const client = await mcp(SECRETS.alice);
    expect(errorCode(await client.callTool({ name: 'coord__mux_send', arguments: { from: 'bob', to: 'alice', content: 'forged' } }))).toBe('FORBIDDEN');
    expect(errorCode(await client.callTool({ name: 'gate_call', arguments: { server: 'coord', tool: 'mux_poll', arguments: { agent_id: 'bob' } } }))).toBe(
      'FORBIDDEN',
    );
    const polled = await client.callTool({ name: 'coord__mux_poll', arguments: { agent_id: 'alice' } });
    expect(polled.isError).not.toBe(true);
    expect(text(polled)).toContain('from ops');
  });

  it('gives async calls and MCP sessions to the token that made them', async () => {
    const submitted = await call('POST', '/call/async', { token: SECRETS.alice, body: { server: 'demo', tool: 'echo', arguments: { text: 'async' } } });
    expect(submitted.status).toBe(202);
    const id = submitted.body.call_id as string;
    expect((await call('GET', `/call/${id}?wait_ms=2000`, { token: SECRETS.bob })).body.code).toBe('UNKNOWN_CALL');
    expect((await call('GET', `/call/${id}?wait_ms=2000`, { token: SECRETS.alice })).body.status).toBe('complete');

    const client = await mcp(SECRETS.alice);
    await client.listTools();
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId ?? '';
    const borrowed = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${SECRETS.bob}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
    });
    seen.push(await borrowed.text());
    expect(borrowed.status).toBe(403);
  });

  it('rate-limits a token with 429 and Retry-After before the router: the breaker stays closed and nothing is recorded', async () => {
    const demo = async (): Promise<{ circuit: string; total_calls: number }> =>
      ((await call('GET', '/server/list', { token: SECRETS.admin })).body.servers as { name: string; circuit: string; total_calls: number }[]).find(
        (s) => s.name === 'demo',
      )!;
    const before = await demo();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => call('POST', '/call', { token: SECRETS.limited, body: { server: 'demo', tool: 'echo', arguments: { text: 'x' } } })),
    );
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(3);
    for (const a of limited) {
      expect(a.body.code).toBe('RATE_LIMITED');
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    const ok = answers.filter((a) => a.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(1);
    const after = await demo();
    expect(after.circuit).toBe('closed');
    expect(after.total_calls).toBe(before.total_calls + ok);
  });

  it('limits calls in flight per token (max_concurrent) with RATE_LIMITED', async () => {
    const slow = call('POST', '/call', { token: SECRETS.single, body: { server: 'demo', tool: 'sleep', arguments: { ms: 1500 } } });
    await eventually(
      async () =>
        ((await call('GET', '/server/list', { token: SECRETS.admin })).body.servers as { name: string; pool: { inflight: number } }[]).find(
          (s) => s.name === 'demo',
        )?.pool.inflight === 1,
    );
    const second = await call('POST', '/call', { token: SECRETS.single, body: { server: 'other', tool: 'echo', arguments: { text: 'x' } } });
    expect(second.status).toBe(429);
    expect(second.body.code).toBe('RATE_LIMITED');
    expect(second.headers.get('retry-after')).toBe('1');
    expect((await slow).status).toBe(200);
    expect((await call('POST', '/call', { token: SECRETS.single, body: { server: 'other', tool: 'echo', arguments: { text: 'x' } } })).status).toBe(200);
  });

  it('keeps an audit log of every call with its token, status, code and argument size (GET /log, jsonl export)', async () => {
    const log = await call('GET', '/log?agent=alice&limit=100', { token: SECRETS.admin });
    const calls = log.body.calls as {
      agent: string;
      server: string;
      tool: string;
      status: string;
      code: string | null;
      duration_ms: number;
      args_bytes: number | null;
    }[];
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.agent === 'alice')).toBe(true);
    const echo = calls.find((c) => c.tool === 'echo' && c.status === 'success');
    expect(echo).toMatchObject({ server: 'demo', code: null });
    expect(echo?.args_bytes).toBeGreaterThan(0);
    expect(calls.some((c) => c.server === 'other' && c.code === 'FORBIDDEN')).toBe(true);
    expect(calls.some((c) => c.server === 'coord' && c.tool === 'mux_send' && c.code === 'FORBIDDEN')).toBe(true);
    expect(JSON.stringify(calls)).not.toContain('"arguments"');
    const errors = (await call('GET', '/log?status=error&server=other', { token: SECRETS.admin })).body.calls as { status: string; server: string }[];
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((c) => c.status === 'error' && c.server === 'other')).toBe(true);
    expect((await call('GET', `/log?since=${Date.now() + 60_000}`, { token: SECRETS.admin })).body.calls).toEqual([]);
    expect((await call('GET', '/log?since=yesterday', { token: SECRETS.admin })).body.code).toBe('BAD_REQUEST');

    for (const path of ['/log?format=jsonl&agent=alice', '/log/export?agent=alice']) {
      const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${SECRETS.admin}` } });
      expect(res.headers.get('content-type')).toMatch(/application\/x-ndjson/);
      const lines = (await res.text()).trim().split('\n');
      seen.push(lines.join('\n'));
      expect(lines.length).toBe(calls.length);
      expect(lines.map((l) => (JSON.parse(l) as { agent: string }).agent).every((a) => a === 'alice')).toBe(true);
    }
  });

  it('never shows a secret (env, header, token) in a response body or a log line', async () => {
    expect((await call('POST', '/call', { token: SECRETS.admin, body: { server: 'remote', tool: 'echo', arguments: { text: 'over http' } } })).status).toBe(
      200,
    );
    for (const path of ['/config', '/server/list', '/tools', '/stats', '/metrics', '/log?limit=1000', '/log/export', '/health', '/discover?query=secret']) {
      await call('GET', path, { token: SECRETS.admin });
    }
    await call('POST', '/call', { token: SECRETS.admin, body: { server: 'demo', tool: 'fail', arguments: {} } });
    await call('POST', '/server/add', {
      token: SECRETS.admin,
      body: { name: 'broken', command: 'node', args: ['-e', 'process.exit(3)'], env: { KEY: SECRETS.env } },
    });
    const client = await mcp(SECRETS.admin);
    text(await client.callTool({ name: 'gate_status', arguments: {} }));
    seen.push(JSON.stringify(await client.listTools()));
    const everything = [...seen, ...gw.logs.map((l) => JSON.stringify(l))].join('\n');
    expect(everything).toContain('demo'); // the haystack is real
    for (const [what, secret] of Object.entries(SECRETS)) expect(everything.includes(secret), `${what} secret leaked`).toBe(false);
  });
});
