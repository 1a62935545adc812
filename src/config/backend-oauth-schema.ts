import { z } from 'zod';
import { isLoopbackHost } from '../../kit/loopback.js';
import { type AuthorizationCodeOAuth, AuthorizationCodeSchema } from './backend-login-schema.js';

/*
 * [[backends]] oauth: the gateway as an OAuth client of a remote backend
 * (issue #27). Only `client_credentials` for now; the secret comes from the
 * environment (`client_secret = "${ENV}"`), as every secret of the file.
 */

const ENV_REF = /\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}/;

/** An https URL, or http on a loopback host. */
const secureUrl = z.url({ protocol: /^https?$/ }).refine((value) => {
  const url = new URL(value);
  return url.protocol === 'https:' || isLoopbackHost(url.hostname);
}, 'an https:// URL (http:// only on a loopback host)');

export const ClientCredentialsSchema = z
  .strictObject({
    /** [oauth-out] token_exchange (RFC 8693): each OAuth caller's token exchanged for one for this backend (supervisor/backend-token-exchange.ts). */
    grant: z.enum(['client_credentials', 'token_exchange']),
    /** token_exchange: how callers without an OAuth token (and the gateway's own requests) reach the backend; unset: they do not. */
    fallback: z.literal('client_credentials').optional(),
    client_id: z.string().min(1),
    /** client_secret_basic; or, with `private_key`, none (private_key_jwt). */
    client_secret: z.string().min(1).optional(),
    /** [oauth-out] private_key_jwt (RFC 7523 §2.2): a PKCS#8 PEM key (`${ENV}` only) signing the client's assertion. */
    private_key: z.string().min(1).optional(),
    /** The assertion's algorithm; unset: RS256. */
    private_key_alg: z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']).optional(),
    /** The token endpoint; unset: discovered from the backend's 401 (RFC 9728, then RFC 8414 / OIDC metadata). */
    token_url: secureUrl.optional(),
    /** The authorization server the credentials belong to: no other is ever sent them (SEP-2352 issuer stamp). */
    issuer: secureUrl.optional(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token')).default([]),
    /** Bounds every request to the authorization server (metadata, token), in ms. */
    token_timeout: z.number().int().min(1).default(10_000),
  })
  .refine((o) => o.fallback === undefined || o.grant === 'token_exchange', { message: 'fallback goes with grant = "token_exchange"', path: ['fallback'] })
  .refine((o) => (o.client_secret === undefined) !== (o.private_key === undefined), {
    message: 'client_credentials takes client_secret (client_secret_basic) or private_key (private_key_jwt), exactly one',
  })
  .refine((o) => o.grant !== 'token_exchange' || o.client_secret !== undefined, {
    message: 'token_exchange authenticates the gateway with client_secret',
    path: ['client_secret'],
  });

/** [oauth-out] One schema per kind of grant; `authorization_code` (stonegate auth login) is backend-login-schema.ts. */
export const BackendOAuthSchema = z.discriminatedUnion('grant', [ClientCredentialsSchema, AuthorizationCodeSchema]);

/** A normalized `grant = "client_credentials"` or `"token_exchange"` entry. */
export type ClientCredentialsOAuth = Omit<z.infer<typeof ClientCredentialsSchema>, 'scopes'> & { readonly scopes: readonly string[] };

/** A normalized backend `oauth` entry. */
export type BackendOAuth = ClientCredentialsOAuth | AuthorizationCodeOAuth;

/** `oauth.client_secret` of a [[backends]] entry must reference the environment, never be written in the file. */
export function refusePlainBackendSecrets(parsed: unknown, file: string): string | undefined {
  const backends = (parsed as { backends?: unknown }).backends;
  if (!Array.isArray(backends)) return undefined;
  for (const [i, entry] of backends.entries()) {
    const oauth = (entry as { oauth?: { client_secret?: unknown; private_key?: unknown } } | null)?.oauth;
    for (const key of ['client_secret', 'private_key'] as const) {
      const secret = oauth?.[key];
      if (typeof secret === 'string' && !ENV_REF.test(secret)) {
        return `${file}: backends[${i}].oauth.${key}: a secret must not be written in the file; reference the environment (${key} = "\${BACKEND_${key.toUpperCase()}}")`;
      }
    }
  }
  return undefined;
}
