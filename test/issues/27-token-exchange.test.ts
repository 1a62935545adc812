import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type CallToolResult, Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, type RunningGateway, resultText, startGateway, stopAll } from '../helpers/harness.js';
import { type ExchangeServer, FRONT, startExchangeServer, USERS, userToken } from '../helpers/oidc-exchange.js';

/*
 * Issue #27 (oauth-out), grant = "token_exchange" (RFC 8693). A real
 * oidc-provider issues the callers' tokens for the front gateway
 * ([auth.oauth]) and performs the exchange (registerGrantType). The
 * protected backend is a second stonegate with [auth.oauth] whose audience
 * is itself: it takes only a token minted for it, so a call that reaches it
 * carried an exchanged token, never the caller's own, and its call log names
 * the subject it verified.
 */

let idp: ExchangeServer;
let back: RunningGateway;
let front: RunningGateway;
const READER = 'reader-token-0123456789abcdef';
const SCRIPT = 'script-token-0123456789abcdef';

function frontToml(): string {
  const oauth = (extra: string): string =>
    `oauth = { grant = "token_exchange", client_id = "${FRONT.id}", client_secret = "\${FRONT_SECRET}", issuer = "${idp.issuer}", scopes = ["stonegate:agent"]${extra} }`;
  return `[auth]
[[auth.tokens]]
name = "script"
role = "admin"
token = "\${SCRIPT}"
[auth.oauth]
issuer = "${idp.issuer}"
[[backends]]
name = "tx"
transport = "http"
url = "${back.url}/mcp/demo"
${oauth(', fallback = "client_credentials"')}
[[backends]]
name = "tx25"
transport = "http"
url = "${back.url}/mcp/demo"
protocol = "2025-11-25"
${oauth(', fallback = "client_credentials"')}
[[backends]]
name = "txonly"
transport = "http"
url = "${back.url}/mcp/demo"
${oauth('')}
`;
}

async function call(gw: RunningGateway, token: string, server: string, text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gw.url}/call`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ server, tool: 'echo', arguments: { text } }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function get(gw: RunningGateway, token: string, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return (await response.json()) as Record<string, unknown>;
}

/** The agents of the backend's echo calls, as its call log records them (oldest first). */
async function backAgents(): Promise<string[]> {
  const body = await get(back, READER, '/log?limit=500');
  const calls = (body.calls ?? body.entries ?? body.log) as { agent: string | null; tool: string; status: string }[];
  return calls
    .filter((c) => c.tool === 'echo' && c.status === 'success')
    .map((c) => c.agent ?? '')
    .reverse();
}

const count = (list: readonly string[], value: string): number => list.filter((x) => x === value).length;

beforeAll(async () => {
  idp = await startExchangeServer(() => `${front.url}/mcp`);
  back = await startGateway(
    `${demoBackend()}\n[auth]\n[[auth.tokens]]\nname = "reader"\nrole = "admin"\ntoken = "\${READER}"\n[auth.oauth]\nissuer = "${idp.issuer}"\n`,
    {
      env: { READER },
    },
  );
  front = await startGateway(frontToml(), { env: { FRONT_SECRET: FRONT.secret, SCRIPT } });
  await eventually(async () => {
    const rows = (await get(front, SCRIPT, '/server/list')).servers as { name: string; status: string }[];
    return ['tx', 'tx25'].every((name) => rows.find((r) => r.name === name)?.status === 'running');
  }, 20_000);
}, 40_000);

afterAll(async () => {
  await stopAll();
  await idp?.close();
});

describe('issue 27: token exchange toward an OAuth-protected backend', () => {
  it('a user reaches the backend as itself, with a token whose audience is the backend', async () => {
    const alice = await userToken(idp.issuer, USERS.alice, `${front.url}/mcp`);
    const before = await backAgents();
    const answer = await call(front, alice, 'tx', 'as alice');
    expect(answer.status, `${JSON.stringify(answer.body)} ${idp.refused.join('; ')}`).toBe(200);
    expect(resultText(answer.body)).toContain('as alice');
    // The backend took the token (it verifies aud = its own resource) and saw alice, not the gateway.
    const after = await backAgents();
    expect(after.slice(before.length)).toEqual(['oauth:alice']);
    expect(idp.exchanges).toContainEqual({ sub: 'alice', client: FRONT.id, resource: `${back.url}/mcp` });
    // alice's own token would not do: its audience is the front gateway.
    const direct = await fetch(`${back.url}/call`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'x' } }),
    });
    expect(direct.status).toBe(401);
    await direct.body?.cancel();
  });

  it('two users calling at once on a 2025-era backend each get an MCP session of their own (the backend binds sessions to their owner)', async () => {
    const [alice, bob] = await Promise.all([userToken(idp.issuer, USERS.alice, `${front.url}/mcp`), userToken(idp.issuer, USERS.bob, `${front.url}/mcp`)]);
    const before = await backAgents();
    const exchanged = idp.exchanges.length;
    const calls = [...Array(10).keys()].map((i) => call(front, i % 2 === 0 ? alice : bob, 'tx25', `legacy ${i}`));
    for (const [i, a] of (await Promise.all(calls)).entries()) {
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(resultText(a.body)).toContain(`legacy ${i}`);
    }
    const seen = (await backAgents()).slice(before.length);
    expect(count(seen, 'oauth:alice')).toBe(5);
    expect(count(seen, 'oauth:bob')).toBe(5);
    // Cached per identity and backend: one exchange each for this backend, for ten calls.
    expect(
      idp.exchanges
        .slice(exchanged)
        .map((e) => e.sub)
        .sort(),
    ).toEqual(['alice', 'bob']);
    const rows = (await get(front, SCRIPT, '/server/list')).servers as { name: string; pool: { sessions: number }; protocol: { era: string } }[];
    const row = rows.find((r) => r.name === 'tx25');
    expect(row?.protocol.era).toBe('legacy');
    expect(row?.pool.sessions).toBe(2);
  });

  it('two users calling at once each reach the backend as themselves, with one exchange each', async () => {
    const [alice, bob] = await Promise.all([userToken(idp.issuer, USERS.alice, `${front.url}/mcp`), userToken(idp.issuer, USERS.bob, `${front.url}/mcp`)]);
    const before = await backAgents();
    const exchanged = idp.exchanges.length;
    const calls = [...Array(12).keys()].map((i) =>
      i % 3 === 0
        ? call(front, alice, 'tx', `alice ${i}`).then((a) => ({ a, who: 'alice', i }))
        : call(front, bob, 'tx', `bob ${i}`).then((a) => ({ a, who: 'bob', i })),
    );
    for (const { a, who, i } of await Promise.all(calls)) {
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(resultText(a.body)).toContain(`${who} ${i}`);
    }
    const seen = (await backAgents()).slice(before.length);
    expect(count(seen, 'oauth:alice')).toBe(4);
    expect(count(seen, 'oauth:bob')).toBe(8);
    expect(seen).toHaveLength(12);
    // Cached per identity until expiry: alice's token for this backend is the one of the first test; bob is exchanged once.
    expect(idp.exchanges.slice(exchanged)).toEqual([{ sub: 'bob', client: FRONT.id, resource: `${back.url}/mcp` }]);
    // Each identity on connections of its own: the shared pool (the gateway's own token) served none of these calls.
    const rows = (await get(front, SCRIPT, '/server/list')).servers as { name: string; pool: { sessions: number }; protocol: { era: string } }[];
    expect(rows.find((r) => r.name === 'tx')?.pool.sessions).toBe(2);
    expect(rows.find((r) => r.name === 'tx')?.protocol.era).toBe('modern');
  });

  it('an MCP session of a user calls as that user', async () => {
    const alice = await userToken(idp.issuer, USERS.alice, `${front.url}/mcp`);
    const client = new Client({ name: 'issue-27-exchange', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${front.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${alice}` } } }));
    try {
      const before = await backAgents();
      const result = (await client.callTool({ name: 'tx__echo', arguments: { text: 'alice over mcp' } })) as CallToolResult;
      expect(result.isError, JSON.stringify(result.content)).not.toBe(true);
      expect(JSON.stringify(result.content)).toContain('alice over mcp');
      expect((await backAgents()).slice(before.length)).toEqual(['oauth:alice']);
    } finally {
      await client.close();
    }
  });

  it('an async call runs as its caller (exchanged when it starts, the tokens in memory only)', async () => {
    const bob = await userToken(idp.issuer, USERS.bob, `${front.url}/mcp`);
    const before = await backAgents();
    const submitted = await fetch(`${front.url}/call/async`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' },
      body: JSON.stringify({ server: 'tx', tool: 'echo', arguments: { text: 'bob later' } }),
    });
    expect(submitted.status).toBe(202);
    const { call_id } = (await submitted.json()) as { call_id: string };
    const done = await get(front, bob, `/call/${call_id}?wait_ms=10000`);
    expect(done.status, JSON.stringify(done)).toBe('complete');
    expect(JSON.stringify(done.result)).toContain('bob later');
    expect((await backAgents()).slice(before.length)).toEqual(['oauth:bob']);
    // No token of a caller is written to data_dir.
    const files = readdirSync(join(front.dir, 'data')).filter((f) => statSync(join(front.dir, 'data', f)).isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const text = readFileSync(join(front.dir, 'data', file)).toString('latin1');
      expect(text, file).not.toContain(bob.split('.')[2] as string);
    }
  });

  it("a refused exchange is that caller's BACKEND_AUTH_REQUIRED with the provider's reason; the backend and other callers are untouched", async () => {
    const [mallory, alice] = await Promise.all([
      userToken(idp.issuer, USERS.mallory, `${front.url}/mcp`),
      userToken(idp.issuer, USERS.alice, `${front.url}/mcp`),
    ]);
    const refused = await call(front, mallory, 'tx', 'not me');
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('BACKEND_AUTH_REQUIRED');
    // The provider's own error_description (oidc-provider's invalid_grant), not the SDK's "[object Response]".
    expect(refused.body.error).toMatch(/could not be reached as 'oauth:mallory'.*token exchange as 'front-gateway'\): grant request is invalid/);
    expect(idp.refused).toContain('the subject mallory may not be exchanged');
    expect(JSON.stringify(refused.body)).not.toContain(FRONT.secret);
    const rows = (await get(front, SCRIPT, '/server/list')).servers as { name: string; status: string }[];
    expect(rows.find((r) => r.name === 'tx')?.status).toBe('running');
    const fine = await call(front, alice, 'tx', 'still fine');
    expect(fine.status).toBe(200);
  });

  it('a static-token caller gets BACKEND_AUTH_REQUIRED (503) without fallback, and goes through as the gateway with it', async () => {
    const refused = await call(front, SCRIPT, 'txonly', 'static');
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('BACKEND_AUTH_REQUIRED');
    expect(refused.body.error).toMatch(/token exchange.*'script' is a static token/);
    const before = await backAgents();
    const through = await call(front, SCRIPT, 'tx', 'static via fallback');
    expect(through.status, JSON.stringify(through.body)).toBe(200);
    expect(resultText(through.body)).toContain('static via fallback');
    expect((await backAgents()).slice(before.length)).toEqual([`oauth:${FRONT.id}`]);
  });
});
