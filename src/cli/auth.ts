import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auth, buildDiscoveryUrls, discoverOAuthServerInfo, extractWWWAuthenticateParams, type FetchLike } from '@modelcontextprotocol/client';
import type { AuthorizationCodeOAuth } from '../config/backend-login-schema.js';
import type { BackendConfig, Config } from '../config/schema.js';
import { LoginProvider, loginCommand } from '../supervisor/backend-login.js';
import { boundedFetch } from '../supervisor/backend-oauth.js';
import { TokenStore } from '../supervisor/backend-tokens.js';
import { UsageError } from './remote.js';

/*
 * [oauth-out] `stonegate auth login | status | logout`. The login runs on the
 * gateway's host, against its config and data_dir: it writes the tokens into
 * the same encrypted store (data_dir/backend-tokens.json, under the same
 * STONEGATE_SECRET_KEY or key file), which a running gateway reads again when
 * the file changes; then it asks the running gateway to restart the backend
 * (POST /server/restart, an admin route: $STONEGATE_TOKEN when [auth] is on)
 * so it connects with the login at once. No new route: nothing but the store
 * carries a token from the CLI to the gateway.
 */

export interface AuthContext {
  config: Config;
  /** The running gateway (--url, $STONEGATE_URL or the config's address). */
  gatewayUrl: string;
  json: boolean;
  /** Print the URL only; never try to open a browser. */
  noBrowser: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** How long a login waits for the browser to come back to the loopback redirect. */
const CALLBACK_WAIT_MS = 300_000;

const USAGE = 'auth takes login BACKEND, logout BACKEND or status';

export async function runAuth(ctx: AuthContext, args: string[]): Promise<number> {
  const [command, name, ...rest] = args;
  if (rest.length > 0) throw new UsageError(USAGE);
  if (command === 'status' && name === undefined) return status(ctx);
  if ((command === 'login' || command === 'logout') && name !== undefined) {
    const backend = ctx.config.backends.find((b) => b.name === name);
    if (backend === undefined) throw new UsageError(`no backend '${name}' in ${ctx.config.file ?? 'the config'}`);
    if (backend.oauth === undefined) throw new UsageError(`backend '${name}' has no oauth: nothing to log in to`);
    if (backend.oauth.grant !== 'authorization_code') {
      throw new UsageError(`backend '${name}' uses grant = "${backend.oauth.grant}": the gateway gets its tokens itself, no login needed`);
    }
    return command === 'login' ? login(ctx, backend, backend.oauth) : logout(ctx, backend, backend.oauth);
  }
  throw new UsageError(USAGE);
}

function storeOf(ctx: AuthContext): TokenStore {
  return new TokenStore(ctx.config.server.dataDir);
}

/** Listens on 127.0.0.1 for the one redirect of the login; resolves with its query. */
async function listenForCallback(port: number): Promise<{ server: Server; port: number; callback: Promise<URLSearchParams> }> {
  let deliver: (params: URLSearchParams) => void = () => undefined;
  const callback = new Promise<URLSearchParams>((resolve) => {
    deliver = resolve;
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><title>stonegate</title><p>stonegate received the login; you can close this tab.</p>');
    deliver(url.searchParams);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port, callback };
}

/** Tries the system's opener; false when there is none (the URL is printed either way). */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // no opener: the printed URL is the way
  }
}

/** The backend's 401 challenge (resource_metadata, scope), as an MCP client first meets it. */
async function challenge(url: string, timeout: number): Promise<{ resourceMetadataUrl?: URL; scope?: string }> {
  try {
    const response = await boundedFetch(timeout)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
    });
    await response.body?.cancel();
    return response.status === 401 ? extractWWWAuthenticateParams(response) : {};
  } catch {
    return {}; // discovery then starts from the well-known URLs
  }
}

async function login(ctx: AuthContext, backend: BackendConfig, oauth: AuthorizationCodeOAuth): Promise<number> {
  const url = backend.url ?? '';
  const store = storeOf(ctx);
  const registered = store.getClient(backend.name, url);
  const storedPort = registered === undefined ? 0 : Number(new URL(registered.redirect_uri).port);
  let listener: Awaited<ReturnType<typeof listenForCallback>>;
  try {
    listener = await listenForCallback(oauth.redirect_port !== 0 ? oauth.redirect_port : storedPort);
  } catch (error) {
    if (oauth.redirect_port !== 0)
      throw new Error(`cannot listen on 127.0.0.1:${oauth.redirect_port} (redirect_port) for the login: ${(error as Error).message}`);
    listener = await listenForCallback(0);
  }
  const redirectUri = `http://127.0.0.1:${listener.port}/callback`;
  // A client registered with another redirect cannot receive this one: it registers again.
  if (registered !== undefined && registered.redirect_uri !== redirectUri && oauth.client_id === undefined) store.deleteClient(backend.name);
  const provider = new LoginProvider(store, backend.name, url, oauth, redirectUri, (authorizationUrl) => {
    ctx.err(`Log in to backend '${backend.name}' in your browser:\n\n  ${authorizationUrl.href}\n\nWaiting for the redirect to ${redirectUri} …`);
    if (!ctx.noBrowser) openBrowser(authorizationUrl.href);
  });
  const fetchFn = boundedFetch(oauth.token_timeout);
  let timer: NodeJS.Timeout | undefined;
  try {
    const { resourceMetadataUrl, scope: challenged } = await challenge(url, oauth.token_timeout);
    const scope = provider.loginScope(challenged);
    const started = await auth(provider, { serverUrl: url, resourceMetadataUrl, scope, fetchFn, forceReauthorization: true });
    if (started !== 'REDIRECT') throw new Error('the authorization server gave tokens without a login');
    const params = await Promise.race([
      listener.callback,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no redirect came back within ${CALLBACK_WAIT_MS / 1000} s`)), CALLBACK_WAIT_MS);
      }),
    ]);
    if (params.get('state') !== provider.expectedState) throw new Error('the redirect carried another state: not the answer to this login');
    const code = params.get('code');
    if (code === null) {
      const error = params.get('error') ?? 'no code';
      throw new Error(`the authorization server refused the login: ${error}${params.has('error_description') ? ` (${params.get('error_description')})` : ''}`);
    }
    const iss = params.get('iss') ?? undefined;
    // The SDK checks `iss` against the discovered issuer (RFC 9207) before it redeems the code with the PKCE verifier.
    const done = await auth(provider, { serverUrl: url, resourceMetadataUrl, scope, authorizationCode: code, iss, fetchFn });
    if (done !== 'AUTHORIZED') throw new Error('the code was not redeemed');
  } catch (error) {
    ctx.err(`stonegate: login of backend '${backend.name}' failed: ${(error as Error).message}`);
    return 1;
  } finally {
    clearTimeout(timer);
    listener.server.close();
    listener.server.closeAllConnections();
  }
  const tokens = await provider.tokens({ issuer: '' });
  const expires = tokens?.expires_in === undefined ? 'no expiry given' : `the access token expires in ${tokens.expires_in} s`;
  ctx.out(`logged in: backend '${backend.name}' (${expires}${tokens?.refresh_token === undefined ? ', no refresh token' : ', refreshed by the gateway'})`);
  await nudge(ctx, backend.name);
  return 0;
}

/**
 * RFC 7009: the held refresh and access tokens are revoked at the authorization server that issued them
 * (its metadata's revocation_endpoint), so a copy of the store is no login either. Returns what happened.
 */
async function revokeHeld(provider: LoginProvider, url: string, oauth: AuthorizationCodeOAuth): Promise<string> {
  const tokens = await provider.tokens({ issuer: '' });
  const client = provider.clientInformation();
  if (tokens === undefined || client === undefined) return 'no tokens were held';
  const fetchFn = boundedFetch(oauth.token_timeout);
  const { resourceMetadataUrl } = await challenge(url, oauth.token_timeout);
  const { authorizationServerUrl, authorizationServerMetadata: metadata } = await discoverOAuthServerInfo(url, { resourceMetadataUrl, fetchFn });
  const endpoint = await revocationEndpoint(authorizationServerUrl, metadata?.issuer, fetchFn);
  if (endpoint === undefined) return 'the authorization server has no revocation endpoint';
  // SEP-2352: tokens go back only to the server that issued them.
  if (tokens.issuer !== undefined && metadata?.issuer !== undefined && tokens.issuer.replace(/\/$/, '') !== metadata.issuer.replace(/\/$/, '')) {
    return `the backend now names another authorization server (${metadata.issuer}); not revoked`;
  }
  const pairs = [
    [tokens.refresh_token, 'refresh_token'],
    [tokens.access_token, 'access_token'],
  ] as const;
  for (const [token, hint] of pairs) {
    if (token === undefined) continue;
    const body = new URLSearchParams({ token, token_type_hint: hint });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (client.client_secret === undefined) body.set('client_id', client.client_id);
    else
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;
    const response = await fetchFn(endpoint, { method: 'POST', headers, body });
    await response.body?.cancel();
    // A JWT access token may not be revocable (unsupported_token_type): it expires; the refresh token is what must go.
    if (!response.ok && hint === 'refresh_token') return `the authorization server answered ${response.status} to the revocation`;
  }
  return 'revoked at the authorization server (RFC 7009)';
}

/** The SDK's metadata schema for OpenID providers drops `revocation_endpoint`: read from the same documents, same issuer. */
async function revocationEndpoint(server: string | URL, issuer: string | undefined, fetchFn: FetchLike): Promise<string | undefined> {
  for (const { url } of buildDiscoveryUrls(server)) {
    const response = await fetchFn(url).catch(() => undefined);
    if (response === undefined || !response.ok) {
      await response?.body?.cancel();
      continue;
    }
    const doc = (await response.json().catch(() => ({}))) as { issuer?: unknown; revocation_endpoint?: unknown };
    if (doc.issuer === issuer && typeof doc.revocation_endpoint === 'string') return doc.revocation_endpoint;
  }
  return undefined;
}

async function logout(ctx: AuthContext, backend: BackendConfig, oauth: AuthorizationCodeOAuth): Promise<number> {
  const store = storeOf(ctx);
  const url = backend.url ?? '';
  const provider = new LoginProvider(store, backend.name, url, oauth, undefined, () => undefined);
  const revoked = await revokeHeld(provider, url, oauth).catch((error: unknown) => `not revoked: ${(error as Error).message}`);
  store.delete(backend.name);
  if (oauth.client_id === undefined) store.deleteClient(backend.name);
  ctx.out(`logged out: backend '${backend.name}' (${revoked}; its tokens are deleted; '${loginCommand(backend.name)}' logs in again)`);
  await nudge(ctx, backend.name);
  return 0;
}

/** Asks the running gateway to restart the backend, so it takes the new login (or its absence) at once. */
async function nudge(ctx: AuthContext, name: string): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = process.env.STONEGATE_TOKEN;
  if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(`${ctx.gatewayUrl}/server/restart`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name }),
      signal: AbortSignal.timeout(120_000),
    });
  } catch {
    ctx.out(`no gateway answered at ${ctx.gatewayUrl}: it reads the store when it starts`);
    return;
  }
  const body = (await response.json().catch(() => ({}))) as { code?: string; error?: string; server?: { status?: string } };
  if (response.ok) ctx.out(`gateway at ${ctx.gatewayUrl}: backend '${name}' is ${body.server?.status ?? 'restarted'}`);
  else ctx.out(`gateway at ${ctx.gatewayUrl}: backend '${name}': ${body.code ?? response.status}: ${body.error ?? ''}`);
}

interface OAuthRow {
  backend: string;
  grant: string;
  status: string;
  expires_at: string | null;
  source: 'gateway' | 'store';
}

/** Each oauth backend's grant, status and expiry: from the running gateway, else from the store. */
async function status(ctx: AuthContext): Promise<number> {
  const backends = ctx.config.backends.filter((b) => b.oauth !== undefined);
  let live: Map<string, { status: string; expires_at: string | null }> | undefined;
  try {
    const headers: Record<string, string> = {};
    const token = process.env.STONEGATE_TOKEN;
    if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${ctx.gatewayUrl}/server/list`, { headers, signal: AbortSignal.timeout(10_000) });
    const body = (await response.json()) as { servers?: { name: string; oauth?: { status: string; expires_at: string | null } }[] };
    live = new Map((body.servers ?? []).flatMap((s) => (s.oauth === undefined ? [] : [[s.name, s.oauth] as const])));
  } catch {
    live = undefined;
  }
  const store = live === undefined ? storeOf(ctx) : undefined;
  const rows: OAuthRow[] = backends.map((b) => {
    const oauth = b.oauth as NonNullable<BackendConfig['oauth']>;
    const seen = live?.get(b.name);
    if (seen !== undefined) return { backend: b.name, grant: oauth.grant, status: seen.status, expires_at: seen.expires_at, source: 'gateway' };
    const clientId = oauth.client_id ?? store?.getClient(b.name, b.url ?? '')?.client.client_id;
    const entry = clientId === undefined ? undefined : store?.get(b.name, b.url ?? '', clientId);
    const expiresAt = entry?.expires_at;
    const state = entry === undefined ? 'none' : expiresAt !== undefined && expiresAt <= Date.now() ? 'expired' : 'authorized';
    return {
      backend: b.name,
      grant: oauth.grant,
      status: state,
      expires_at: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
      source: 'store',
    };
  });
  if (ctx.json) {
    ctx.out(JSON.stringify({ backends: rows }, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    ctx.out('no backend has oauth');
    return 0;
  }
  const table = [['BACKEND', 'GRANT', 'STATUS', 'EXPIRES AT'], ...rows.map((r) => [r.backend, r.grant, r.status, r.expires_at ?? '-'])];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length))) ?? [];
  for (const row of table)
    ctx.out(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  ctx.out(live === undefined ? `(no gateway answered at ${ctx.gatewayUrl}: read from the store)` : `(from the gateway at ${ctx.gatewayUrl})`);
  for (const r of rows) if (r.grant === 'authorization_code' && r.status !== 'authorized') ctx.out(`  ${r.backend}: run \`${loginCommand(r.backend)}\``);
  return 0;
}
