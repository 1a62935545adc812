import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify } from 'jose';
import * as oidc from 'oidc-provider';

/** The parts of oidc-provider beyond test/oidc-provider.d.ts that the exchange uses (its grant-type registry, its token models). */
interface TokenContext {
  oidc: { params: Record<string, unknown>; client?: { clientId: string } };
  body: unknown;
}
interface ExchangeProvider {
  registerGrantType(name: string, handler: (ctx: TokenContext) => Promise<void>, params: string[], dupes: string[]): void;
  AccessToken: new (fields: Record<string, unknown>) => { resourceServer: unknown; expiration: number; scope?: string; save(): Promise<string> };
  ResourceServer: new (identifier: string, info: Record<string, unknown>) => unknown;
}
const { default: Provider, errors } = oidc as unknown as typeof oidc & { errors: { InvalidGrant: new (description: string) => Error } };

/**
 * A real authorization server on loopback for token exchange (RFC 8693,
 * issue #27): oidc-provider with client credentials and resource indicators
 * (as test/helpers/oidc.ts), plus the token-exchange grant registered with
 * provider.registerGrantType. Users are the clients `alice` and `bob`: a
 * client_credentials JWT's `sub` is its client id. `front-gateway` is the
 * gateway's own client, which may exchange: the subject_token must be a JWT
 * of this provider for the gateway's resource (`subjectAudience()`); the
 * issued token is a JWT for the requested `resource` whose `sub` is the
 * subject's. Every exchange is recorded (who, for which resource).
 */
export interface ExchangeServer {
  issuer: string;
  /** One entry per token-exchange request the provider answered with a token. */
  exchanges: { sub: string; client: string; resource: string }[];
  /** Refused exchange requests, with the error. */
  refused: string[];
  close(): Promise<void>;
}

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

export const USERS = {
  alice: { id: 'alice', secret: 'alice-secret-0123456789abcdef', scope: 'stonegate:agent' },
  bob: { id: 'bob', secret: 'bob-secret-0123456789abcdefgh', scope: 'stonegate:agent' },
  /** A user the provider never exchanges a token for. */
  mallory: { id: 'mallory', secret: 'mallory-secret-0123456789abcd', scope: 'stonegate:agent' },
} as const;

export const FRONT = { id: 'front-gateway', secret: 'front-gateway-secret-0123456789', scope: 'stonegate:agent' } as const;

/** Starts the provider; `subjectAudience()` is the audience a subject token must have (the front gateway's resource, known once it listens). */
export async function startExchangeServer(subjectAudience: () => string, ttl = 300): Promise<ExchangeServer> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid: 'exchange-key-1', alg: 'RS256', use: 'sig' };
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
  const publicKey = await importJWK(publicJwk, 'RS256');
  const exchanges: ExchangeServer['exchanges'] = [];
  const refused: string[] = [];
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => handler?.(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resourceServer = (resource: string) => ({
    scope: 'stonegate:agent',
    audience: resource,
    accessTokenFormat: 'jwt' as const,
    accessTokenTTL: ttl,
    jwt: { sign: { alg: 'RS256' as const } },
  });
  const provider = new Provider(issuer, {
    clients: [...Object.values(USERS), FRONT].map((c) => ({
      client_id: c.id,
      client_secret: c.secret,
      grant_types: c.id === FRONT.id ? ['client_credentials', TOKEN_EXCHANGE] : ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [privateJwk] },
    scopes: ['stonegate:agent'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => resourceServer(resource),
      },
    },
  });
  const exchanging = provider as unknown as ExchangeProvider;
  exchanging.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx) => {
      const params = ctx.oidc.params as Record<string, unknown>;
      const client = ctx.oidc.client;
      const refuse = (why: string): never => {
        refused.push(why);
        throw new errors.InvalidGrant(why);
      };
      if (client === undefined) return refuse('no client');
      if (params.subject_token_type !== ACCESS_TOKEN) return refuse(`subject_token_type ${String(params.subject_token_type)}`);
      const resource = Array.isArray(params.resource) ? params.resource[0] : params.resource;
      if (typeof resource !== 'string') return refuse('no resource');
      let sub: string;
      try {
        const { payload } = await jwtVerify(String(params.subject_token), publicKey, { issuer, audience: subjectAudience() });
        sub = String(payload.sub);
      } catch (error) {
        return refuse(`subject_token: ${(error as Error).message}`);
      }
      if (sub === USERS.mallory.id) return refuse(`the subject ${sub} may not be exchanged`);
      const token = new exchanging.AccessToken({ accountId: sub, client, scope: 'stonegate:agent', gty: 'token_exchange' });
      token.resourceServer = new exchanging.ResourceServer(resource, resourceServer(resource));
      const value = await token.save();
      exchanges.push({ sub, client: client.clientId, resource });
      ctx.body = { access_token: value, issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope };
    },
    ['subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type', 'audience', 'resource', 'scope'],
    ['audience', 'resource'],
  );
  handler = provider.callback();
  return {
    issuer,
    exchanges,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A client_credentials access token of `client` for `resource` (a user's inbound token, its `sub` the client id). */
export async function userToken(issuer: string, client: { id: string; secret: string; scope: string }, resource: string): Promise<string> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: client.scope }),
  });
  const json = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
  if (json.access_token === undefined) throw new Error(`token request failed: ${response.status} ${json.error ?? ''} ${json.error_description ?? ''}`);
  return json.access_token;
}
