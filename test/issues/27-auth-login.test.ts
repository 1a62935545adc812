import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_FILE, TokenStore } from '../../src/supervisor/backend-tokens.js';
import { BIN, demoBackend, eventually, ROOT, type RunningGateway, resultText, serverRow, startGateway, stopAll } from '../helpers/harness.js';
import { completeLogin, type LoginServer, startLoginServer } from '../helpers/oidc-login.js';
import { runCli } from '../helpers/run-cli.js';

/*
 * Issue #27 (oauth-out), grant = "authorization_code". The remote backend is
 * a second stonegate with [auth.oauth] on a real oidc-provider; the front
 * gateway has only `oauth = { grant = "authorization_code" }` for it: no
 * client, no token. `stonegate auth login remote --no-browser` discovers the
 * provider from the backend's 401, registers a client (RFC 7591), prints the
 * authorization URL (PKCE S256, resource, a loopback redirect) and waits; the
 * test plays the person through the provider's login and consent pages. The
 * CLI then redeems the code into the encrypted store, and the running front
 * gateway restarts the backend with it.
 */

let idp: LoginServer;
let back: RunningGateway;
let front: RunningGateway;

function frontToml(): string {
  return `${demoBackend('local')}
[[backends]]
name = "remote"
transport = "http"
url = "${back.url}/mcp/demo"
oauth = { grant = "authorization_code" }
`;
}

const cliArgs = (): string[] => ['-c', join(front.dir, 'stonegate.toml'), '--data-dir', join(front.dir, 'data'), '--url', front.url];

/** `stonegate auth login remote --no-browser`, its printed URL followed by the test as the person would. */
async function login(): Promise<{ code: number | null; stdout: string; stderr: string; redirect: URL }> {
  const proc = spawn(process.execPath, [BIN, 'auth', 'login', 'remote', '--no-browser', ...cliArgs()], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('close', resolve));
  const printed = new Promise<string>((resolve, reject) => {
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const url = /^\s+(http\S+)$/m.exec(stderr)?.[1];
      if (url !== undefined) resolve(url);
    });
    void exited.then(() => reject(new Error(`the login exited before printing a URL: ${stderr}`)));
  });
  const authorizationUrl = new URL(await printed);
  expect(authorizationUrl.origin).toBe(idp.issuer);
  expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorizationUrl.searchParams.get('resource')).toBe(`${back.url}/mcp`); // the resource of the backend's metadata, covering /mcp/demo
  expect(authorizationUrl.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  const redirect = await completeLogin(authorizationUrl.href);
  return { code: await exited, stdout, stderr, redirect };
}

const held = () => {
  const store = new TokenStore(join(front.dir, 'data'), {});
  const url = `${back.url}/mcp/demo`;
  const client = store.getClient('remote', url);
  return { store, url, client, entry: client === undefined ? undefined : store.get('remote', url, client.client.client_id) };
};

beforeAll(async () => {
  idp = await startLoginServer();
  back = await startGateway(`${demoBackend()}\n[auth]\n[auth.oauth]\nissuer = "${idp.issuer}"\n`);
  front = await startGateway(frontToml(), { keep: true });
}, 30_000);

afterAll(async () => {
  await stopAll();
  await idp?.close();
});

describe('issue 27: stonegate auth login (authorization_code) toward an OAuth-protected backend', () => {
  it('before a login the backend is needs_auth, its calls BACKEND_AUTH_REQUIRED, with the command to run', async () => {
    const row = await eventually(async () => {
      const r = await serverRow(front, 'remote');
      return r.status === 'needs_auth' ? r : undefined;
    }, 20_000);
    expect(row.last_error).toContain('stonegate auth login remote');
    expect((row as unknown as { oauth: unknown }).oauth).toEqual({ grant: 'authorization_code', status: 'needs_auth', expires_at: null });
    const call = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'x' } });
    expect(call.status).toBe(503);
    expect(call.body.code).toBe('BACKEND_AUTH_REQUIRED');
    const status = await runCli(['auth', 'status', ...cliArgs()]);
    expect(status.stdout).toMatch(/remote\s+authorization_code\s+needs_auth/);
    expect(status.stdout).toContain('run `stonegate auth login remote`');
  });

  it('auth login completes against the provider; the running gateway then calls through with the token', async () => {
    const run = await login();
    expect(run.code, run.stderr).toBe(0);
    expect(run.redirect.searchParams.get('iss')).toBe(idp.issuer); // RFC 9207: checked by the SDK before the code is redeemed
    expect(run.stdout).toContain("logged in: backend 'remote'");
    expect(run.stdout).toMatch(/backend 'remote' is running/);
    const { entry, client } = held();
    expect(client?.client.client_id).toBeTruthy(); // registered by RFC 7591
    expect(entry?.tokens.access_token).toMatch(/^ey/);
    expect(entry?.tokens.refresh_token).toBeTruthy();
    // Encrypted at rest: the file holds neither token.
    const file = readFileSync(join(front.dir, 'data', TOKEN_FILE), 'utf8');
    expect(file).not.toContain(entry?.tokens.access_token as string);
    expect(file).not.toContain(entry?.tokens.refresh_token as string);
    const call = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'after login' } });
    expect(resultText(call.body)).toContain('after login');
    const row = (await serverRow(front, 'remote')) as unknown as { oauth: { status: string; expires_at: string } };
    expect(row.oauth.status).toBe('authorized');
    expect(Date.parse(row.oauth.expires_at)).toBeGreaterThan(Date.now());
    const status = await runCli(['auth', 'status', '--json', ...cliArgs()]);
    expect(JSON.parse(status.stdout).backends).toEqual([
      { backend: 'remote', grant: 'authorization_code', status: 'authorized', expires_at: row.oauth.expires_at, source: 'gateway' },
    ]);
  }, 60_000);

  it('a restart of the gateway keeps the login: the stored tokens serve at once', async () => {
    const before = held().entry?.tokens.access_token;
    await front.stop();
    front = await startGateway(frontToml(), { dir: front.dir, keep: true });
    await eventually(async () => (await serverRow(front, 'remote')).status === 'running', 20_000);
    const call = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'after restart' } });
    expect(resultText(call.body)).toContain('after restart');
    expect(held().entry?.tokens.access_token).toBe(before);
  });

  it('a token about to expire is refreshed before it is sent, and a refused one (401) is refreshed and the call retried once', async () => {
    const { store, url, client, entry } = held();
    if (client === undefined || entry === undefined) throw new Error('no login held');
    const refreshes = idp.grants.refresh_token ?? 0;
    // Within the refresh margin: the next request refreshes first.
    store.set({ ...entry, expires_at: Date.now() + 5_000 });
    const soon = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'refreshed early' } });
    expect(resultText(soon.body)).toContain('refreshed early');
    expect(idp.grants.refresh_token).toBe(refreshes + 1);
    const refreshed = held().entry;
    expect(refreshed?.tokens.access_token).not.toBe(entry.tokens.access_token);
    // A token the backend refuses: the 401 brings a refresh, and the request goes again.
    store.set({ ...(refreshed ?? entry), url, tokens: { ...(refreshed ?? entry).tokens, access_token: 'refused-token' } });
    const again = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'refreshed on 401' } });
    expect(resultText(again.body)).toContain('refreshed on 401');
    expect(idp.grants.refresh_token).toBe(refreshes + 2);
    expect(held().entry?.tokens.access_token).toMatch(/^ey/);
  });

  it('a revoked refresh token makes the backend needs_auth with the command to run', async () => {
    const { store, client, entry } = held();
    if (client === undefined || entry === undefined) throw new Error('no login held');
    await idp.revoke(entry.tokens.refresh_token as string, client.client.client_id);
    store.set({ ...entry, tokens: { ...entry.tokens, access_token: 'refused-token' } });
    const call = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'x' } });
    expect(call.status).toBe(503);
    expect(call.body.code).toBe('BACKEND_AUTH_REQUIRED');
    const row = await eventually(async () => {
      const r = await serverRow(front, 'remote');
      return r.status === 'needs_auth' ? r : undefined;
    }, 20_000);
    expect(row.last_error).toContain('stonegate auth login remote');
    expect(held().entry, row.last_error ?? '').toBeUndefined(); // the refused tokens are gone
    const local = await front.request('POST', '/call', { server: 'local', tool: 'echo', arguments: { text: 'still here' } });
    expect(resultText(local.body)).toContain('still here');
  });

  it('a second login serves again; logout makes it needs_auth and BACKEND_AUTH_REQUIRED', async () => {
    const run = await login();
    expect(run.code, run.stderr).toBe(0);
    await eventually(async () => (await serverRow(front, 'remote')).status === 'running', 20_000);
    const { entry, client } = held();
    const out = await runCli(['auth', 'logout', 'remote', ...cliArgs()]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout, out.stdout).toContain("logged out: backend 'remote' (revoked at the authorization server (RFC 7009)");
    expect(held().entry).toBeUndefined();
    // The refresh token the store held no longer works at the provider.
    const refresh = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: entry?.tokens.refresh_token ?? '', client_id: client?.client.client_id ?? '' }),
    });
    expect(((await refresh.json()) as { error?: string }).error).toBe('invalid_grant');
    const row = await eventually(async () => {
      const r = await serverRow(front, 'remote');
      return r.status === 'needs_auth' ? r : undefined;
    }, 20_000);
    expect(row.last_error).toContain('stonegate auth login remote');
    const call = await front.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'x' } });
    expect(call.status).toBe(503);
    expect(call.body.code).toBe('BACKEND_AUTH_REQUIRED');
  }, 60_000);
});
