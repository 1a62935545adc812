import { type CallToolResult, Client, ClientCredentialsProvider, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordReady } from '../helpers/coord-harness.js';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { type AuthServer, CLIENTS, clientToken, startAuthServer } from '../helpers/oidc.js';

/*
 * Issue #26 item 1: the front door as an OAuth 2.1 protected resource. A
 * real authorization server (oidc-provider on loopback, client credentials,
 * resource indicators: JWT access tokens whose aud is the gateway's
 * resource) and a real gateway with [auth.oauth] beside a static token.
 * The static tokens: `agent-client` (agent: the same name as the OAuth
 * client's sub) and `ops` (admin).
 */

const STATIC = { agent: 'static-agent-secret-0123456789', ops: 'static-ops-secret-0123456789ab' };
let idp: AuthServer;
let gw: RunningGateway;
let resource: string;
const clients: Client[] = [];
const tokens: Partial<Record<keyof typeof CLIENTS, string>> = {};

beforeAll(async () => {
  idp = await startAuthServer();
  const toml = `${demoBackend()}
[coordination]
[auth]
[[auth.tokens]]
name = "agent-client"
token = "\${OAUTH_T_AGENT}"
[[auth.tokens]]
name = "ops"
role = "admin"
token = "\${OAUTH_T_OPS}"
[auth.oauth]
issuer = "${idp.issuer}"
`;
  gw = await startGateway(toml, { env: { OAUTH_T_AGENT: STATIC.agent, OAUTH_T_OPS: STATIC.ops } });
  await coordReady(gw);
  resource = `${gw.url}/mcp`;
}, 30_000);

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
  await idp?.close();
});

async function token(kind: keyof typeof CLIENTS): Promise<string> {
  tokens[kind] ??= await clientToken(idp.issuer, CLIENTS[kind], resource);
  return tokens[kind];
}

async function get(path: string, bearer?: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers = new Headers(init.headers);
  if (bearer !== undefined) headers.set('authorization', `Bearer ${bearer}`);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  const res = await fetch(`${gw.url}${path}`, { ...init, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe('issue 26: protected-resource metadata (RFC 9728)', () => {
  it('answers at the root and at every MCP path suffix, without a token', async () => {
    const metadataUrl = `${gw.url}/.well-known/oauth-protected-resource/mcp`;
    for (const path of ['', '/mcp', '/mcp/demo', '/sse']) {
      const answer = await get(`/.well-known/oauth-protected-resource${path}`);
      expect(answer.status, path).toBe(200);
      expect(answer.body).toEqual({
        resource,
        authorization_servers: [idp.issuer],
        scopes_supported: ['stonegate:agent', 'stonegate:admin'],
        bearer_methods_supported: ['header'],
      });
    }
    expect((await get('/.well-known/oauth-protected-resource/config')).status).toBe(404);
    // The 401 of an MCP path points there, and names the scope to ask for.
    const bare = await get('/mcp', undefined, { method: 'POST', body: '{}' });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe(`Bearer realm="stonegate", resource_metadata="${metadataUrl}", scope="stonegate:agent"`);
  });

  it('keeps the Host and Origin checks on the metadata routes', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${gw.url}/.well-known/oauth-protected-resource`, { headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
    const foreign = await get('/.well-known/oauth-protected-resource/mcp', undefined, { headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
  });
});

describe('issue 26: the SDK client completes the flow from a bare 401', () => {
  it('discovers the metadata, gets a client-credentials token, lists tools and calls one', async () => {
    const provider = new ClientCredentialsProvider({
      clientId: CLIENTS.agent.id,
      clientSecret: CLIENTS.agent.secret,
      scope: CLIENTS.agent.scope,
      expectedIssuer: idp.issuer,
    });
    const client = new Client({ name: 'issue-26-oauth', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider }));
    clients.push(client);
    const listed = await client.listTools();
    expect(listed.tools.map((t) => t.name)).toContain('demo__echo');
    const result = (await client.callTool({ name: 'demo__echo', arguments: { text: 'through oauth' } })) as CallToolResult;
    expect(result.isError).not.toBe(true);
    expect(JSON.stringify(result.content)).toContain('through oauth');
    // The token the provider saved is a JWT for this gateway's resource.
    const saved = provider.tokens()?.access_token ?? '';
    const payload = JSON.parse(Buffer.from(saved.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
    expect(payload).toMatchObject({ iss: idp.issuer, aud: resource, sub: CLIENTS.agent.id, scope: 'stonegate:agent' });
    // The call log names the namespaced identity.
    const log = await get('/log', STATIC.ops);
    expect(JSON.stringify(log.body)).toContain('oauth:agent-client');
  });
});

describe('issue 26: scopes and roles', () => {
  it('agent scope reaches agent routes and not admin routes (403 insufficient_scope)', async () => {
    const agent = await token('agent');
    expect((await get('/tools', agent)).status).toBe(200);
    expect((await get('/server/list', agent)).status).toBe(200);
    const admin = await get('/config', agent);
    expect(admin.status).toBe(403);
    expect(admin.body.code).toBe('FORBIDDEN');
    expect(admin.headers.get('www-authenticate')).toContain('error="insufficient_scope", scope="stonegate:admin"');
  });

  it('admin scope reaches both', async () => {
    const admin = await token('admin');
    expect((await get('/tools', admin)).status).toBe(200);
    expect((await get('/config', admin)).status).toBe(200);
    expect((await get('/log', admin)).status).toBe(200);
  });

  it('a valid token without the agent scope is 403 insufficient_scope naming it', async () => {
    const bare = await get('/tools', await token('bare'));
    expect(bare.status).toBe(403);
    expect(bare.headers.get('www-authenticate')).toContain('error="insufficient_scope", scope="stonegate:agent"');
    expect(bare.body.required_scope).toBe('stonegate:agent');
  });

  it('static tokens keep working beside OAuth, and a wrong bearer is 401 invalid_token', async () => {
    expect((await get('/tools', STATIC.agent)).status).toBe(200);
    expect((await get('/config', STATIC.ops)).status).toBe(200);
    const wrong = await get('/tools', 'not-a-token-of-anyone-0123456789');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(wrong.headers.get('www-authenticate')).toContain('resource_metadata=');
  });
});

describe('issue 26: an OAuth identity is its own agent', () => {
  it('does not share an inbox with the static token of the same name', async () => {
    const oauth = await token('agent');
    const register = (bearer: string, agent: string) =>
      get('/coord/agent/register', bearer, { method: 'POST', body: JSON.stringify({ agent_id: agent, role: 'test' }) });
    expect((await register(STATIC.ops, 'ops')).status).toBe(200);
    expect((await register(STATIC.agent, 'agent-client')).status).toBe(200);
    expect((await register(oauth, 'oauth:agent-client')).status).toBe(200);
    // The OAuth identity may not act as the static token's agent.
    expect((await register(oauth, 'agent-client')).status).toBe(403);
    const send = await get('/coord/msg/send', STATIC.ops, {
      method: 'POST',
      body: JSON.stringify({ from: 'ops', to: 'agent-client', content: 'for the static token only' }),
    });
    expect(send.status).toBe(200);
    const mine = await get('/coord/msg/poll?agent_id=oauth%3Aagent-client&timeout=0', oauth);
    expect(mine.status).toBe(200);
    expect(mine.body.messages).toEqual([]);
    expect((await get('/coord/msg/poll?agent_id=agent-client&timeout=0', oauth)).status).toBe(403);
    const theirs = await get('/coord/msg/poll?agent_id=agent-client&timeout=0', STATIC.agent);
    expect((theirs.body.messages as { content: string }[]).map((m) => m.content)).toEqual(['for the static token only']);
  });

  it('owns its async calls: another identity cannot read them', async () => {
    const oauth = await token('agent');
    const submitted = await get('/call/async', oauth, { method: 'POST', body: JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'x' } }) });
    expect(submitted.status).toBe(202);
    const id = String(submitted.body.call_id ?? submitted.body.id);
    expect((await get(`/call/${id}`, oauth)).status).toBe(200);
    expect((await get(`/call/${id}`, STATIC.agent)).status).toBe(404);
  });
});
