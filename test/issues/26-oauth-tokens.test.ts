import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTINS } from '../../src/builtins/registry.js';
import { buildConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { startGateway, stopAll } from '../helpers/harness.js';
import { type AuthServer, CLIENTS, clientToken, startAuthServer } from '../helpers/oidc.js';

/*
 * Issue #26 items 1 and 2: what [auth.oauth] refuses. Tokens minted with
 * jose against a real oidc-provider's key (wrong audience, wrong issuer,
 * expired, `alg: none`, HS256), keys rotated and revoked at a JWKS this file
 * serves (jwks_url), an unreachable identity provider (503
 * AUTH_UNAVAILABLE, never an open door, never in the way of a static
 * token), oversize and malformed tokens.
 */

const STATIC = 'static-agent-secret-0123456789';
const servers: Server[] = [];
const gateways: Gateway[] = [];
const dirs: string[] = [];
let idp: AuthServer;

beforeAll(async () => {
  idp = await startAuthServer();
});

afterAll(async () => {
  await stopAll();
  await Promise.all(gateways.map((g) => g.stop()));
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  await idp?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A real gateway with one static agent token and [auth.oauth] of `oauth` (TOML lines). */
async function gatewayWith(oauth: string, auth = ''): Promise<{ url: string; resource: string }> {
  const gw = await startGateway(`[auth]\n${auth}\n[[auth.tokens]]\nname = "static"\ntoken = "\${OAUTH_T_STATIC}"\n[auth.oauth]\n${oauth}\n`, {
    env: { OAUTH_T_STATIC: STATIC },
  });
  return { url: gw.url, resource: `${gw.url}/mcp` };
}

async function status(
  url: string,
  bearer: string,
  path = '/tools',
): Promise<{ status: number; code: unknown; challenge: string | null; retryAfter: string | null }> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
  const text = await res.text();
  const body = (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown>;
  return { status: res.status, code: body.code, challenge: res.headers.get('www-authenticate'), retryAfter: res.headers.get('retry-after') };
}

/** A JWT signed with `key` (RS256), with the claims a good token of the provider has, then `claims` over them. */
async function mint(key: JWK, claims: JWTPayload, resource: string, issuer = idp.issuer): Promise<string> {
  const { importJWK } = await import('jose');
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { iss: issuer, aud: resource, sub: 'minted', scope: 'stonegate:agent', iat: now, exp: now + 300, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid ?? '', typ: 'at+jwt' }).sign(await importJWK(key, 'RS256'));
}

describe('issue 26: tokens the gateway refuses', () => {
  let gw: { url: string; resource: string };
  beforeAll(async () => {
    gw = await gatewayWith(`issuer = "${idp.issuer}"`);
  });

  it('accepts the provider token and one it would mint, within 60 s of clock skew', async () => {
    expect((await status(gw.url, await clientToken(idp.issuer, CLIENTS.agent, gw.resource))).status).toBe(200);
    expect((await status(gw.url, await mint(idp.privateJwk, {}, gw.resource))).status).toBe(200);
    const now = Math.floor(Date.now() / 1000);
    expect((await status(gw.url, await mint(idp.privateJwk, { exp: now - 30 }, gw.resource))).status).toBe(200);
    // Scopes as some providers send them: `scp`, a string or an array.
    for (const scp of ['stonegate:agent', ['openid', 'stonegate:agent']]) {
      expect((await status(gw.url, await mint(idp.privateJwk, { scope: undefined, scp }, gw.resource))).status).toBe(200);
    }
    expect((await status(gw.url, await mint(idp.privateJwk, { scope: 'openid' }, gw.resource))).status).toBe(403);
  });

  it('refuses a token minted for another resource (no confused deputy)', async () => {
    const other = await clientToken(idp.issuer, CLIENTS.agent, 'http://127.0.0.1:9/mcp');
    const answer = await status(gw.url, other);
    expect(answer).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(answer.challenge).toContain('error="invalid_token"');
    expect((await status(gw.url, await mint(idp.privateJwk, { aud: 'https://other.example/mcp' }, gw.resource))).status).toBe(401);
  });

  it('refuses a wrong issuer, an expired token, one without exp, and one not yet valid', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const claims of [{ iss: 'http://127.0.0.1:9' }, { exp: now - 120 }, { exp: undefined }, { nbf: now + 600 }]) {
      expect((await status(gw.url, await mint(idp.privateJwk, claims, gw.resource))).status, JSON.stringify(claims)).toBe(401);
    }
  });

  it('refuses alg none and HS256 (even with the public key as the secret)', async () => {
    const base = { iss: idp.issuer, aud: gw.resource, sub: 'x', scope: 'stonegate:agent' };
    const unsigned = new UnsecuredJWT(base).setIssuedAt().setExpirationTime('5m').encode();
    expect(await status(gw.url, unsigned)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    const publicAsSecret = new TextEncoder().encode(JSON.stringify({ kty: idp.privateJwk.kty, n: idp.privateJwk.n, e: idp.privateJwk.e }));
    for (const secret of [publicAsSecret, new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!')]) {
      const hs = await new SignJWT(base).setProtectedHeader({ alg: 'HS256', kid: 'provider-key-1' }).setExpirationTime('5m').sign(secret);
      expect(await status(gw.url, hs)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    }
  });

  it('refuses a token signed by a key the provider does not publish, and a malformed one', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const stranger = { ...(await exportJWK(privateKey)), kid: 'provider-key-1' };
    expect((await status(gw.url, await mint(stranger, {}, gw.resource))).status).toBe(401);
    for (const bad of ['a.b.c', 'eyJhbGciOiJSUzI1NiJ9.e30.', 'not-a-jwt-and-no-static-token']) expect((await status(gw.url, bad)).status, bad).toBe(401);
  });
});

describe('issue 26: keys rotate without a restart (jwks_url)', () => {
  it('takes a new key at once and refuses tokens of a removed key', async () => {
    const keys: JWK[] = [];
    const newKey = async (kid: string): Promise<JWK> => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      return { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
    };
    let published: JWK[] = [];
    const jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: published.map(({ d: _d, ...pub }) => pub) }));
    });
    servers.push(jwks);
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
    keys.push(await newKey('one'), await newKey('two'));
    const [one, two] = keys as [JWK, JWK];
    published = [one];
    const gw = await gatewayWith(`issuer = "${idp.issuer}"\njwks_url = "${jwksUrl}"\njwks_cooldown = 0`);
    const es = async (key: JWK): Promise<string> => {
      const { importJWK } = await import('jose');
      return new SignJWT({ iss: idp.issuer, aud: gw.resource, sub: 'rotating', scope: 'stonegate:agent' })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid ?? '' })
        .setExpirationTime('5m')
        .sign(await importJWK(key, 'ES256'));
    };
    expect((await status(gw.url, await es(one))).status).toBe(200);
    published = [two]; // rotated: one is revoked
    expect((await status(gw.url, await es(two))).status).toBe(200);
    expect((await status(gw.url, await es(one))).status).toBe(401);
  });
});

describe('issue 26: an unreachable identity provider', () => {
  it('answers 503 AUTH_UNAVAILABLE for a JWT while a static token goes through', async () => {
    // A JWKS endpoint that takes the connection and never answers.
    const hanging = createServer(() => undefined);
    servers.push(hanging);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const gw = await gatewayWith(`issuer = "${idp.issuer}"\njwks_url = "http://127.0.0.1:${(hanging.address() as AddressInfo).port}/jwks"`);
    const jwt = await mint(idp.privateJwk, {}, gw.resource);
    let jwtSettled = false;
    const pending = status(gw.url, jwt).finally(() => {
      jwtSettled = true;
    });
    expect((await status(gw.url, STATIC)).status).toBe(200);
    expect(jwtSettled).toBe(false);
    expect(await pending).toMatchObject({ status: 503, code: 'AUTH_UNAVAILABLE', retryAfter: '5' });
  }, 20_000);

  it('answers AUTH_UNAVAILABLE when the issuer metadata cannot be fetched, and never lets the token in', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const gw = await gatewayWith(`issuer = "${issuer}"`);
    expect(await status(gw.url, await mint(idp.privateJwk, {}, gw.resource, issuer))).toMatchObject({ status: 503, code: 'AUTH_UNAVAILABLE' });
    expect((await status(gw.url, STATIC)).status).toBe(200);
  });
});

describe('issue 26 item 2: oversize and malformed bearers never reach the provider', () => {
  // What serve does before it builds a Gateway (loadBuiltins): the default config mounts coord.
  beforeAll(async () => {
    for (const builtin of BUILTINS) await builtin.load?.();
  });

  function inProcess(): Gateway {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-oauth-'));
    dirs.push(dir);
    // An issuer nobody answers at: any request to it would be AUTH_UNAVAILABLE, not 401.
    const config = buildConfig({ server: { data_dir: dir }, auth: { oauth: { issuer: 'http://127.0.0.1:9' } } }, '(test)', dir);
    const gw = new Gateway({ config, logger: pino({ level: 'silent' }) });
    gateways.push(gw);
    return gw;
  }

  it('refuses a token over 16 KB with 401 invalid_token', async () => {
    const gw = inProcess();
    const huge = `${'a'.repeat(8_200)}.${'b'.repeat(8_200)}.c`;
    const res = await gw.app.request('/tools', { headers: { authorization: `Bearer ${huge}` } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toContain('over 16384 bytes');
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('refuses a bearer that is no JWT with 401 without asking the provider', async () => {
    const gw = inProcess();
    for (const bad of ['opaque-token-0123456789', 'a.b', '...']) {
      const res = await gw.app.request('/tools', { headers: { authorization: `Bearer ${bad}` } });
      expect(res.status, bad).toBe(401);
    }
  });
});

describe('issue 26: an OAuth identity has the limits and backends of a token', () => {
  it('has its own rate-limit bucket, apart from other identities and the static token', async () => {
    const gw = await gatewayWith(`issuer = "${idp.issuer}"`, 'rate_limit = 0.001\nburst = 1');
    const ann = await mint(idp.privateJwk, { sub: 'ann' }, gw.resource);
    expect((await status(gw.url, ann)).status).toBe(200);
    const again = await status(gw.url, await mint(idp.privateJwk, { sub: 'ann', jti: 'another token of ann' }, gw.resource));
    expect(again).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect((await status(gw.url, await mint(idp.privateJwk, { sub: 'bob' }, gw.resource))).status).toBe(200);
    expect((await status(gw.url, STATIC)).status).toBe(200);
  });

  it('servers_claim lists the only backends a token may use (absent: none)', async () => {
    const gw = await gatewayWith(`issuer = "${idp.issuer}"\nservers_claim = "stonegate_servers"`);
    const limited = await mint(idp.privateJwk, { stonegate_servers: ['demo'] }, gw.resource);
    const none = await mint(idp.privateJwk, {}, gw.resource);
    expect((await status(gw.url, limited, '/mcp/other')).status).toBe(403);
    expect((await status(gw.url, none, '/mcp/demo')).status).toBe(403);
    // /metrics shows every backend: not for a token limited to some.
    expect((await status(gw.url, limited, '/metrics')).status).toBe(403);
    expect((await status(gw.url, STATIC, '/metrics')).status).toBe(200);
  });
});
