import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SubjectTokens } from '../../src/auth/subject-tokens.js';
import type { ClientCredentialsOAuth } from '../../src/config/backend-oauth-schema.js';
import { buildConfig } from '../../src/config/load.js';
import { BackendAuthError } from '../../src/supervisor/backend-oauth.js';
import { exchangeAuthProvider, exchangerFor, MAX_IDENTITIES, TokenExchanger } from '../../src/supervisor/backend-token-exchange.js';
import { TokenStore } from '../../src/supervisor/backend-tokens.js';

/*
 * [oauth-out] token_exchange's cache of exchanged tokens (one per identity
 * until near its expiry, never past the subject token's, at most
 * MAX_IDENTITIES) and the token request it sends (RFC 8693 §2.1), against a
 * loopback token endpoint that records each request.
 */

let server: Server;
let tokenUrl: string;
let requests: { params: URLSearchParams; authorization: string | undefined }[] = [];
/** What the endpoint answers next: expires_in, or an OAuth error. */
let answer: { expires_in?: number; error?: string } = { expires_in: 3600 };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const params = new URLSearchParams(body);
      requests.push({ params, authorization: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      if (answer.error !== undefined) {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: answer.error, error_description: 'the subject token is not accepted' }));
        return;
      }
      const subject = params.get('subject_token') ?? '';
      res.end(JSON.stringify({ access_token: `exchanged-${subject}-${requests.length}`, token_type: 'Bearer', expires_in: answer.expires_in }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  requests = [];
  answer = { expires_in: 3600 };
});

const oauth = (): ClientCredentialsOAuth => ({
  grant: 'token_exchange',
  client_id: 'front',
  client_secret: 'front-secret',
  token_url: tokenUrl,
  scopes: ['tracker:read'],
  token_timeout: 2_000,
});
const URL_ = 'http://127.0.0.1:9/mcp';
const hour = (token: string) => ({ token, until: Date.now() + 3_600_000 });

describe('TokenExchanger', () => {
  it('sends the RFC 8693 token request as the gateway client, with the backend as resource', async () => {
    const exchanger = new TokenExchanger('tracker', URL_, oauth());
    expect(await exchanger.tokenFor('oauth:alice', hour('alice-token'))).toBe('exchanged-alice-token-1');
    expect(requests).toHaveLength(1);
    const { params, authorization } = requests[0] as (typeof requests)[0];
    expect(Object.fromEntries(params)).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'alice-token',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'tracker:read',
      resource: URL_,
    });
    expect(authorization).toBe(`Basic ${Buffer.from('front:front-secret').toString('base64')}`);
  });

  it('exchanges once per identity while the token is fresh, and once for calls that arrive together', async () => {
    const exchanger = new TokenExchanger('tracker', URL_, oauth());
    const first = await Promise.all([1, 2, 3, 4].map(() => exchanger.tokenFor('oauth:alice', hour('alice-token'))));
    expect(new Set(first).size).toBe(1);
    await exchanger.tokenFor('oauth:alice', hour('alice-token'));
    await exchanger.tokenFor('oauth:bob', hour('bob-token'));
    expect(requests.map((r) => r.params.get('subject_token'))).toEqual(['alice-token', 'bob-token']);
  });

  it('exchanges again a token about to expire, and never keeps one past the subject token', async () => {
    answer = { expires_in: 10 };
    const exchanger = new TokenExchanger('tracker', URL_, oauth());
    await exchanger.tokenFor('oauth:alice', hour('alice-token'));
    await exchanger.tokenFor('oauth:alice', hour('alice-token'));
    expect(requests).toHaveLength(2);
    answer = { expires_in: 3600 };
    await exchanger.tokenFor('oauth:bob', { token: 'bob-token', until: Date.now() + 10_000 });
    expect(exchanger.cached('oauth:bob')).toBeUndefined();
  });

  it('refuses an expired subject without asking, and a refused exchange is a BackendAuthError that keeps nothing', async () => {
    const exchanger = new TokenExchanger('tracker', URL_, oauth());
    await expect(exchanger.tokenFor('oauth:alice', { token: 'old', until: Date.now() - 1 })).rejects.toThrow(/expired/);
    expect(requests).toHaveLength(0);
    answer = { error: 'invalid_grant' };
    const refused = exchanger.tokenFor('oauth:bob', hour('bob-token'));
    await expect(refused).rejects.toBeInstanceOf(BackendAuthError);
    await expect(refused).rejects.toThrow(/backend 'tracker' for 'oauth:bob'.*token exchange as 'front'/);
    expect(exchanger.cached('oauth:bob')).toBeUndefined();
  });

  it(`keeps at most ${MAX_IDENTITIES} identities (here 3), dropping the one used longest ago`, async () => {
    const exchanger = new TokenExchanger('tracker', URL_, oauth(), 3);
    for (const i of [0, 1, 2]) await exchanger.tokenFor(`oauth:u${i}`, hour(`t${i}`));
    await exchanger.tokenFor('oauth:u0', hour('t0'));
    await exchanger.tokenFor('oauth:u3', hour('t3'));
    expect(exchanger.cached('oauth:u1')).toBeUndefined();
    for (const i of [0, 2, 3]) expect(exchanger.cached(`oauth:u${i}`)).toBeDefined();
    expect(requests).toHaveLength(4);
  });
});

describe('exchangeAuthProvider', () => {
  const store = (): TokenStore => new TokenStore(mkdtempSync(join(tmpdir(), 'tokex-')), { STONEGATE_SECRET_KEY: '11'.repeat(32) });

  it("a caller's connection sends its exchanged token, and a 401 exchanges again", async () => {
    const entry = oauth();
    const exchanger = exchangerFor('tracker', URL_, entry);
    await exchanger.tokenFor('oauth:carol', hour('carol-token'));
    const provider = exchangeAuthProvider(store(), 'tracker', URL_, entry, 'oauth:carol');
    expect(await provider.token()).toBe('exchanged-carol-token-1');
    await provider.onUnauthorized?.({ response: new Response(null, { status: 401 }), serverUrl: new URL(URL_), fetchFn: fetch });
    expect(await provider.token()).toBe('exchanged-carol-token-2');
    expect(requests).toHaveLength(2);
  });

  it("the gateway's own connection, without fallback, sends no token and names the fix on a 401", async () => {
    const provider = exchangeAuthProvider(store(), 'tracker', URL_, oauth(), undefined);
    expect(await provider.token()).toBeUndefined();
    const refused = provider.onUnauthorized?.({ response: new Response(null, { status: 401 }), serverUrl: new URL(URL_), fetchFn: fetch });
    await expect(refused).rejects.toThrow(/fallback = "client_credentials"/);
    expect(requests).toHaveLength(0);
  });

  it('fallback goes with token_exchange only', () => {
    const entry = (grant: string) => ({
      backends: [{ name: 'b', transport: 'http', url: URL_, oauth: { grant, client_id: 'c', client_secret: 's', fallback: 'client_credentials' } }],
    });
    expect(() => buildConfig(entry('client_credentials'), '(test)', tmpdir())).toThrow(/fallback goes with grant = "token_exchange"/);
    const exchange = buildConfig(entry('token_exchange'), '(test)', tmpdir()).backends[0]?.oauth as ClientCredentialsOAuth | undefined;
    expect(exchange?.fallback).toBe('client_credentials');
  });
});

describe('SubjectTokens', () => {
  it('holds the newest live token of a name, never an expired one', () => {
    const subjects = new SubjectTokens();
    subjects.remember('oauth:alice', 'a1', Date.now() + 60_000);
    subjects.remember('oauth:alice', 'a2', Date.now() + 120_000);
    expect(subjects.get('oauth:alice')?.token).toBe('a2');
    // A token that lives shorter than the held one does not replace it.
    subjects.remember('oauth:alice', 'a3', Date.now() + 30_000);
    expect(subjects.get('oauth:alice')?.token).toBe('a2');
    subjects.remember('oauth:bob', 'b1', Date.now() - 1);
    expect(subjects.get('oauth:bob')).toBeUndefined();
    expect(subjects.get(undefined)).toBeUndefined();
  });
});
