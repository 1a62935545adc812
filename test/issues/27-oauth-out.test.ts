import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_FILE, TOKEN_KEY_FILE, TokenStore } from '../../src/supervisor/backend-tokens.js';
import { demoBackend, eventually, type RunningGateway, resultText, serverRow, startGateway, stopAll } from '../helpers/harness.js';
import { type AuthServer, CLIENTS, startAuthServer } from '../helpers/oidc.js';

/*
 * Issue #27 (oauth-out), client_credentials toward a remote backend. The
 * remote backend is a second stonegate gateway with [auth.oauth] on a real
 * oidc-provider: its /mcp/demo answers 401 with resource_metadata, as an
 * OAuth-protected MCP server must. The front gateway is given only the
 * client's id and secret: it discovers the authorization server from that
 * 401, gets a token for the backend's resource and calls through; its token
 * store is encrypted on disk and kept across restarts.
 */

let idp: AuthServer;
let back: RunningGateway;
let front: RunningGateway;
let bad: Server;
let badUrl: string;
const seen: string[] = [];
const SECRET = CLIENTS.agent.secret;

/** A remote that is not what it claims: its metadata names another resource, or an issuer its AS metadata disagrees with, or a token endpoint that hangs. */
function startBadRemote(): Promise<void> {
  bad = createServer((req, res) => {
    const json = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const path = req.url ?? '';
    seen.push(`${req.method} ${path}`);
    if (path.startsWith('/.well-known/oauth-protected-resource/other'))
      return json({ resource: 'https://elsewhere.example/mcp', authorization_servers: [idp.issuer] });
    if (path.startsWith('/.well-known/oauth-protected-resource/liar')) return json({ resource: `${badUrl}/liar`, authorization_servers: [`${badUrl}/as`] });
    if (path.startsWith('/.well-known/oauth-authorization-server/as') || path.startsWith('/as/.well-known/'))
      return json({
        issuer: 'https://not-this-server.example',
        authorization_endpoint: `${badUrl}/as/authorize`,
        token_endpoint: `${badUrl}/as/token`,
        response_types_supported: ['code'],
      });
    if (path === '/hang-token') return; // accepted, never answered
    const name = path.slice(1).split('/')[0] ?? '';
    res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${badUrl}/.well-known/oauth-protected-resource/${name}"` });
    res.end();
  });
  return new Promise((resolve) =>
    bad.listen(0, '127.0.0.1', () => {
      badUrl = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
      resolve();
    }),
  );
}

function frontToml(): string {
  const oauth = (secret: string, extra = ''): string =>
    `oauth = { grant = "client_credentials", client_id = "${CLIENTS.agent.id}", client_secret = "\${${secret}}", issuer = "${idp.issuer}"${extra} }`;
  return `${demoBackend('local')}
[[backends]]
name = "remote"
transport = "http"
url = "${back.url}/mcp/demo"
${oauth('REMOTE_SECRET')}
[[backends]]
name = "roaming"
transport = "http"
url = "${back.url}/mcp/demo"
oauth = { grant = "client_credentials", client_id = "${CLIENTS.agent.id}", client_secret = "\${REMOTE_SECRET}" }
[[backends]]
name = "wrong"
transport = "http"
url = "${back.url}/mcp/demo"
${oauth('WRONG_SECRET')}
[[backends]]
name = "other"
transport = "http"
url = "${badUrl}/other"
${oauth('REMOTE_SECRET')}
[[backends]]
name = "liar"
transport = "http"
url = "${badUrl}/liar"
oauth = { grant = "client_credentials", client_id = "x", client_secret = "\${REMOTE_SECRET}" }
[[backends]]
name = "hang"
transport = "http"
url = "${badUrl}/hang"
${oauth('REMOTE_SECRET', `, token_url = "${badUrl}/hang-token", token_timeout = 300`)}
`;
}

const ENV = { REMOTE_SECRET: SECRET, WRONG_SECRET: 'not-the-secret-0123456789' };

beforeAll(async () => {
  idp = await startAuthServer();
  await startBadRemote();
  back = await startGateway(`${demoBackend()}\n[auth]\n[auth.oauth]\nissuer = "${idp.issuer}"\n`);
  front = await startGateway(frontToml(), { env: ENV, keep: true });
}, 30_000);

let idp2: AuthServer | undefined;

afterAll(async () => {
  await stopAll();
  await idp?.close();
  await idp2?.close();
  await new Promise<void>((resolve) => (bad ? bad.close(() => resolve()) : resolve()));
});

const held = (dir: string, backend: string): string | undefined =>
  new TokenStore(join(dir, 'data'), {}).get(backend, `${back.url}/mcp/demo`, CLIENTS.agent.id)?.tokens.access_token;

describe('issue 27: client_credentials toward an OAuth-protected backend', () => {
  it('discovers the authorization server from the 401 and calls through with its own token', async () => {
    const row = await eventually(async () => {
      const r = await serverRow(front, 'remote');
      return r.status === 'running' ? r : undefined;
    }, 20_000);
    const call = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'through oauth' } });
    expect(call.status).toBe(200);
    expect(resultText(call.body)).toContain('through oauth');
    const oauth = (row as unknown as { oauth: { grant: string; status: string; expires_at: string } }).oauth;
    expect(oauth.grant).toBe('client_credentials');
    expect(oauth.status).toBe('authorized');
    expect(Date.parse(oauth.expires_at)).toBeGreaterThan(Date.now());
    expect(Object.keys(oauth).sort()).toEqual(['expires_at', 'grant', 'status']);
  });

  it('keeps the token encrypted at rest: the file (0600) holds no token text, the views no secret', async () => {
    const token = held(front.dir, 'remote');
    expect(token).toMatch(/^ey/);
    const file = join(front.dir, 'data', TOKEN_FILE);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(token as string);
    expect(text).not.toContain((token as string).split('.')[1] as string);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(front.dir, 'data', TOKEN_KEY_FILE)).mode & 0o777).toBe(0o600);
    for (const path of ['/server/list', '/config', '/health']) {
      const body = JSON.stringify((await front.request('GET', path)).body);
      expect(body, path).not.toContain(SECRET);
      expect(body, path).not.toContain(token as string);
    }
  });

  it('a backend whose credentials are refused is needs_auth and answers BACKEND_AUTH_REQUIRED (503) while others serve', async () => {
    const row = await eventually(async () => {
      const r = await serverRow(front, 'wrong');
      return r.status === 'needs_auth' ? r : undefined;
    }, 20_000);
    expect((row as unknown as { oauth: unknown }).oauth).toEqual({ grant: 'client_credentials', status: 'needs_auth', expires_at: null });
    expect(row.last_error).toContain('needs auth');
    expect(row.last_error).not.toContain(ENV.WRONG_SECRET);
    const call = await front.request('POST', '/call', { server: 'wrong', tool: 'echo', arguments: { text: 'x' } });
    expect(call.status).toBe(503);
    expect(call.body.code).toBe('BACKEND_AUTH_REQUIRED');
    const health = await front.request('GET', '/health');
    expect(health.body.status).toBe('degraded');
    expect((health.body.checks as Record<string, { status: string }>).needs_auth?.status).toBe('degraded');
    // POST /server/start tries at once (a restart: its pending retry and pool go), and answers why it still cannot.
    const started = await front.request('POST', '/server/start', { name: 'wrong' });
    expect(started.status).toBe(503);
    expect(started.body.code).toBe('BACKEND_AUTH_REQUIRED');
    expect((await serverRow(front, 'wrong')).status).toBe('needs_auth');
    const local = await front.request('POST', '/call', { server: 'local', tool: 'echo', arguments: { text: 'still here' } });
    expect(resultText(local.body)).toContain('still here');
  });

  it('bad input is needs_auth with its reason: a resource mismatch, an issuer its metadata disagrees with, a token endpoint that hangs', async () => {
    const reasons: Record<string, RegExp> = { other: /resource mismatch/, liar: /issuer|not-this-server/i, hang: /token_timeout \(300 ms\)/ };
    for (const [name, reason] of Object.entries(reasons)) {
      let last: unknown;
      const row = await eventually(async () => {
        const r = await serverRow(front, name);
        last = r;
        return r.status === 'needs_auth' ? r : undefined;
      }, 20_000).catch(() => {
        throw new Error(`${name} never needs_auth: ${JSON.stringify(last)}; seen: ${seen.join(', ')}`);
      });
      expect(row.last_error, name).toMatch(reason);
    }
  });

  it('a restart keeps the stored token: no new token is asked for', async () => {
    const before = held(front.dir, 'remote');
    await front.stop();
    front = await startGateway(frontToml(), { env: ENV, dir: front.dir, keep: true });
    await eventually(async () => (await serverRow(front, 'remote')).status === 'running', 20_000);
    const call = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'after restart' } });
    expect(resultText(call.body)).toContain('after restart');
    // The same token: a new one would have replaced it in the store.
    expect(held(front.dir, 'remote')).toBe(before);
  });

  it('a stored token the backend refuses (401) brings a new token and the request is retried once', async () => {
    await front.stop();
    new TokenStore(join(front.dir, 'data'), {}).set({
      backend: 'remote',
      url: `${back.url}/mcp/demo`,
      client_id: CLIENTS.agent.id,
      tokens: { access_token: 'revoked-or-expired-token', token_type: 'Bearer', expires_in: 3600 },
      expires_at: Date.now() + 3_600_000,
    });
    front = await startGateway(frontToml(), { env: ENV, dir: front.dir });
    await eventually(async () => (await serverRow(front, 'remote')).status === 'running', 20_000);
    const call = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'new token' } });
    expect(resultText(call.body)).toContain('new token');
    expect(held(front.dir, 'remote')).toMatch(/^ey/);
  });

  it('a 401 mid-life (the backend now trusts another authorization server) brings a new token from it, and the call goes through', async () => {
    await eventually(async () => (await serverRow(front, 'roaming')).status === 'running', 20_000);
    idp2 = await startAuthServer();
    const port = new URL(back.url).port;
    await back.stop();
    back = await startGateway(`${demoBackend()}\n[auth]\n[auth.oauth]\nissuer = "${idp2.issuer}"\n`, { args: ['--port', port] });
    // The old token is refused (401): the backend's metadata now names idp2, whose token the request is sent again with.
    const call = await eventually(async () => {
      const answer = await front.request('POST', '/call', { server: 'roaming', tool: 'echo', arguments: { text: 'second issuer' } });
      return answer.status === 200 ? answer : undefined;
    }, 20_000);
    expect(resultText(call.body)).toContain('second issuer');
    expect(idp2.fetches.token).toBeGreaterThanOrEqual(1);
    // 'remote' pins its credentials to the first issuer: they are never sent to idp2, and it needs auth.
    const refused = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'x' } });
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('BACKEND_AUTH_REQUIRED');
    const pinned = await eventually(async () => {
      const row = await serverRow(front, 'remote');
      return row.status === 'needs_auth' ? row : undefined;
    }, 20_000);
    expect(pinned.last_error).toMatch(/issuer|authorization server/i);
  });
});
