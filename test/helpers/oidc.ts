import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';

/**
 * A real OAuth 2.1 authorization server on loopback for the tests of
 * [auth.oauth]: oidc-provider with the client credentials grant and resource
 * indicators (RFC 8707), so a token asked for a resource is a JWT access
 * token (RFC 9068) whose `aud` is that resource, signed with the provider's
 * RS256 key (its JWKS at /jwks, found from /.well-known/openid-configuration).
 * Clients: `agent-client` may get stonegate:agent, `admin-client` also
 * stonegate:admin, `bare-client` neither (a token without the scope);
 * `opaque-client` gets opaque (non-JWT) agent tokens, which `gateway-client`
 * (the gateway's own client) may introspect at /token/introspection
 * (RFC 7662); /token/revocation revokes a token (RFC 7009).
 */
export interface AuthServer {
  /** The issuer: http://127.0.0.1:<port>. */
  issuer: string;
  /** The private signing key (to mint tokens the provider would have). */
  privateJwk: JWK;
  /** How many times the JWKS and the metadata were fetched, and tokens asked for (POST /token). */
  fetches: { jwks: number; metadata: number; token: number };
  close(): Promise<void>;
}

export const CLIENTS = {
  agent: { id: 'agent-client', secret: 'agent-client-secret-0123456789', scope: 'stonegate:agent' },
  admin: { id: 'admin-client', secret: 'admin-client-secret-0123456789', scope: 'stonegate:agent stonegate:admin' },
  bare: { id: 'bare-client', secret: 'bare-client-secret-01234567890', scope: '' },
  opaque: { id: 'opaque-client', secret: 'opaque-client-secret-012345678', scope: 'stonegate:agent' },
  gateway: { id: 'gateway-client', secret: 'gateway-client-secret-01234567', scope: '' },
} as const;

/** Starts the provider on 127.0.0.1 (a free port). */
export async function startAuthServer(): Promise<AuthServer> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid: 'provider-key-1', alg: 'RS256', use: 'sig' };
  const fetches = { jwks: 0, metadata: 0, token: 0 };
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/jwks') === true) fetches.jwks += 1;
    if (req.url?.startsWith('/.well-known/') === true) fetches.metadata += 1;
    if (req.method === 'POST' && req.url === '/token') fetches.token += 1;
    handler?.(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const scopeOf = (clientId: string): string => Object.values(CLIENTS).find((c) => c.id === clientId)?.scope ?? '';
  const provider = new Provider(issuer, {
    clients: Object.values(CLIENTS).map((c) => ({
      client_id: c.id,
      client_secret: c.secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [privateJwk] },
    scopes: ['stonegate:agent', 'stonegate:admin'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource, client) => ({
          scope: scopeOf(client.clientId),
          audience: resource,
          accessTokenFormat: client.clientId === CLIENTS.opaque.id ? 'opaque' : 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  handler = provider.callback();
  return {
    issuer,
    privateJwk,
    fetches,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A client_credentials token of the provider for `resource` (the grant without the MCP client). */
export async function clientToken(issuer: string, client: (typeof CLIENTS)[keyof typeof CLIENTS], resource: string): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', resource });
  if (client.scope !== '') body.set('scope', client.scope);
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const json = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
  if (json.access_token === undefined) throw new Error(`token request failed: ${response.status} ${json.error ?? ''} ${json.error_description ?? ''}`);
  return json.access_token;
}

/** Revokes a token at the provider (RFC 7009), as the client it was issued to. */
export async function revoke(issuer: string, client: (typeof CLIENTS)[keyof typeof CLIENTS], token: string): Promise<void> {
  const response = await fetch(`${issuer}/token/revocation`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`revocation failed: ${response.status}`);
}
