import { type Context, Hono } from 'hono';
import { expiryOf, metadataUrlOf, type OAuthVerifier } from '../auth/oauth.js';
import type { Security } from '../auth/security.js';
import { bearerOf, type Identity } from '../auth/tokens.js';
import { GatewayError } from '../errors.js';
import type { GatewaySurface } from '../mcp/surface.js';
import { probe } from './route-role.js';

/** What this module reads of the gateway. */
export type OAuthSources = Pick<GatewaySurface, 'security'>;

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** The MCP paths a metadata URL may name after the well-known prefix (RFC 9728 §3.1): one resource covers them all. */
const MCP_SUFFIX = /^(|\/|\/mcp|\/mcp\/[^/]+|\/sse|\/messages)$/;

/**
 * GET /.well-known/oauth-protected-resource and its per-path variants
 * (/.well-known/oauth-protected-resource/mcp, …/mcp/{server}, …/sse): the
 * protected-resource metadata (RFC 9728) that tells an MCP client which
 * authorization server issues tokens for this gateway. Public (a client
 * reads it before it has a token) but Host/Origin checked, as the probes
 * are. Without [auth.oauth] there is none: 404 UNKNOWN_ROUTE.
 */
export function oauthMetadataRoutes(gateway: OAuthSources): Hono {
  const app = new Hono();
  const answer = (c: Context, suffix: string): Response => {
    const oauth = gateway.security.oauth;
    if (oauth === undefined || !MCP_SUFFIX.test(suffix)) {
      const error = new GatewayError('UNKNOWN_ROUTE', `No route for GET ${c.req.path}${oauth === undefined ? ' ([auth.oauth] has no issuer)' : ''}`);
      return c.json(error.toJSON(), 404);
    }
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(oauth.metadata());
  };
  app.get(WELL_KNOWN, probe(), (c) => answer(c, ''));
  app.get(`${WELL_KNOWN}/*`, probe(), (c) => answer(c, c.req.path.slice(WELL_KNOWN.length)));
  return app;
}

/**
 * The identity of a request's `Authorization` header: a configured token
 * first (hashed and compared in memory: it never waits for the identity
 * provider), then, with [auth.oauth], the bearer as a JWT. Undefined when no
 * token matches and OAuth is off; the OAuth verifier's GatewayError
 * (UNAUTHORIZED, FORBIDDEN with required_scope, AUTH_UNAVAILABLE) else.
 */
export async function requestIdentity(security: Security, header: string | undefined): Promise<Identity | undefined> {
  const known = security.tokens.authenticate(header);
  if (known !== undefined || security.oauth === undefined) return known;
  const token = bearerOf(header);
  if (token === undefined) return undefined;
  const identity = await security.oauth.authenticate(token);
  security.tokens.remember(identity, expiryOf(identity));
  security.subjects.remember(identity.name, token, expiryOf(identity)); // [oauth-out] token_exchange's subject_token
  return identity;
}

/**
 * The WWW-Authenticate challenge of a refusal (RFC 6750 §3): on 401, where
 * to find the protected-resource metadata and the scope to ask for (plus
 * `error="invalid_token"` when a token was sent); on a 403 for a missing
 * scope, `error="insufficient_scope"` and that scope. Without [auth.oauth]
 * the 401 names only the realm.
 */
export function challenge(oauth: OAuthVerifier | undefined, error: GatewayError, sentToken: boolean): string | undefined {
  const required = error.details?.required_scope;
  if (error.code === 'UNAUTHORIZED') {
    const invalid = sentToken ? ', error="invalid_token"' : '';
    if (oauth === undefined) return `Bearer realm="stonegate"${invalid}`;
    return `Bearer realm="stonegate"${invalid}, resource_metadata="${metadataUrlOf(oauth.resource)}", scope="${oauth.agentScope}"`;
  }
  if (error.code === 'FORBIDDEN' && oauth !== undefined && typeof required === 'string') {
    return `Bearer realm="stonegate", error="insufficient_scope", scope="${required}", resource_metadata="${metadataUrlOf(oauth.resource)}"`;
  }
  return undefined;
}
