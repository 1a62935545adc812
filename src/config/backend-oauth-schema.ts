import { z } from 'zod';
import { type AuthorizationCodeOAuth, AuthorizationCodeSchema } from './backend-login-schema.js';
import { isLoopbackHost } from './loopback.js';

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

export const ClientCredentialsSchema = z.strictObject({
  grant: z.literal('client_credentials'),
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  /** The token endpoint; unset: discovered from the backend's 401 (RFC 9728, then RFC 8414 / OIDC metadata). */
  token_url: secureUrl.optional(),
  /** The authorization server the credentials belong to: no other is ever sent them (SEP-2352 issuer stamp). */
  issuer: secureUrl.optional(),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token')).default([]),
  /** Bounds every request to the authorization server (metadata, token), in ms. */
  token_timeout: z.number().int().min(1).default(10_000),
});

/** [oauth-out] One schema per grant; `authorization_code` (stonegate auth login) is backend-login-schema.ts. */
export const BackendOAuthSchema = z.discriminatedUnion('grant', [ClientCredentialsSchema, AuthorizationCodeSchema]);

/** A normalized `grant = "client_credentials"` entry. */
export type ClientCredentialsOAuth = Omit<z.infer<typeof ClientCredentialsSchema>, 'scopes'> & { readonly scopes: readonly string[] };

/** A normalized backend `oauth` entry. */
export type BackendOAuth = ClientCredentialsOAuth | AuthorizationCodeOAuth;

/** `oauth.client_secret` of a [[backends]] entry must reference the environment, never be written in the file. */
export function refusePlainBackendSecrets(parsed: unknown, file: string): string | undefined {
  const backends = (parsed as { backends?: unknown }).backends;
  if (!Array.isArray(backends)) return undefined;
  for (const [i, entry] of backends.entries()) {
    const secret = (entry as { oauth?: { client_secret?: unknown } } | null)?.oauth?.client_secret;
    if (typeof secret === 'string' && !ENV_REF.test(secret)) {
      return `${file}: backends[${i}].oauth.client_secret: a secret must not be written in the file; reference the environment (client_secret = "\${BACKEND_CLIENT_SECRET}")`;
    }
  }
  return undefined;
}
