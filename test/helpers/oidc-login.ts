import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/**
 * [oauth-out] A real authorization server for `stonegate auth login`:
 * oidc-provider with the authorization code grant (PKCE), open dynamic client
 * registration (RFC 7591), refresh tokens, revocation (RFC 7009), RFC 9207
 * `iss` in the authorization response, and resource indicators (RFC 8707):
 * an access token asked for a resource is a JWT whose `aud` is it, carrying
 * the resource's scopes (`stonegate:agent`), as a stonegate with [auth.oauth]
 * on this issuer accepts. Its devInteractions pages (a login form taking any
 * name, a consent form) stand in for the person: `completeLogin` fills them.
 */
export interface LoginServer {
  issuer: string;
  /** Token requests by grant type (authorization_code, refresh_token). */
  grants: Record<string, number>;
  /** Revokes a token (a public client names itself with client_id). */
  revoke(token: string, clientId: string): Promise<void>;
  close(): Promise<void>;
}

export async function startLoginServer(): Promise<LoginServer> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'login-key-1', alg: 'RS256', use: 'sig' };
  const grants: Record<string, number> = {};
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/token') {
      // Count by grant type without consuming the body: peek at it through a listener.
      req.on('data', (chunk: Buffer) => {
        const grant = new URLSearchParams(chunk.toString()).get('grant_type');
        if (grant !== null) grants[grant] = (grants[grant] ?? 0) + 1;
      });
    }
    handler?.(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    scopes: ['openid', 'offline_access', 'stonegate:agent', 'stonegate:admin'],
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: 'stonegate:agent',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  handler = provider.callback();
  return {
    issuer,
    grants,
    revoke: async (token, clientId) => {
      const response = await fetch(`${issuer}/token/revocation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: clientId }),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`revocation failed: ${response.status}`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Plays the person in the browser: follows the authorization URL through
 * oidc-provider's login and consent pages (cookies kept) until it reaches
 * the loopback redirect, which it fetches. Returns the redirect's URL.
 */
export async function completeLogin(authorizationUrl: string, account = 'alice'): Promise<URL> {
  const cookies = new Map<string, string>();
  const send = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (cookies.size > 0) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (pair !== undefined && eq > 0) cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return response;
  };
  let url = authorizationUrl;
  for (let step = 0; step < 20; step += 1) {
    const target = new URL(url);
    if (target.pathname === '/callback') {
      const done = await send(url);
      await done.body?.cancel();
      if (!done.ok) throw new Error(`the loopback redirect answered ${done.status}`);
      return target;
    }
    const response = await send(url);
    const location = response.headers.get('location');
    if (location !== null) {
      await response.body?.cancel();
      url = new URL(location, url).href;
      continue;
    }
    const html = await response.text();
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (prompt === undefined || action === undefined) throw new Error(`unexpected page at ${url} (${response.status}): ${html.slice(0, 300)}`);
    const form = new URLSearchParams({ prompt, ...(prompt === 'login' ? { login: account, password: 'any' } : {}) });
    const posted = await send(new URL(action, url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    await posted.body?.cancel();
    const next = posted.headers.get('location');
    if (next === null) throw new Error(`the ${prompt} form at ${action} answered ${posted.status} without a redirect`);
    url = new URL(next, url).href;
  }
  throw new Error('the login did not reach the redirect in 20 steps');
}
