import { z } from 'zod';
import { isLoopbackHost } from '../../kit/loopback.js';

/*
 * [oauth-out] `oauth = { grant = "authorization_code", … }` on a [[backends]]
 * entry: a person logs the gateway in once with `stonegate auth login
 * <backend>` (a browser, PKCE S256, a loopback redirect); the gateway then
 * keeps the access and refresh tokens (encrypted, backend-tokens.ts) and
 * refreshes them. With no client_id the gateway registers itself: with its
 * Client ID Metadata Document when the authorization server supports one and
 * `client_metadata_url` is set, else by dynamic client registration (RFC 7591).
 */

/** An https URL, or http on a loopback host. */
const secureUrl = z.url({ protocol: /^https?$/ }).refine((value) => {
  const url = new URL(value);
  return url.protocol === 'https:' || isLoopbackHost(url.hostname);
}, 'an https:// URL (http:// only on a loopback host)');

export const AuthorizationCodeSchema = z.strictObject({
  grant: z.literal('authorization_code'),
  /** A client registered by hand at the authorization server; unset: the gateway registers one (CIMD, else RFC 7591). */
  client_id: z.string().min(1).optional(),
  /** A confidential pre-registered client's secret (`${ENV}`); unset: a public client (PKCE only). */
  client_secret: z.string().min(1).optional(),
  /** The authorization server the login belongs to: tokens and the client are never presented to another. */
  issuer: secureUrl.optional(),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token')).default([]),
  /** The loopback port `stonegate auth login` listens on for the redirect; 0: any free port (RFC 8252 §7.3). */
  redirect_port: z.number().int().min(0).max(65535).default(0),
  /** An https URL serving this client's metadata document (the client_id when the server supports CIMD). */
  client_metadata_url: z
    .url({ protocol: /^https$/ })
    .refine((value) => new URL(value).pathname !== '/', 'an https:// URL with a path')
    .optional(),
  /** Bounds every request to the authorization server (metadata, token, refresh), in ms. */
  token_timeout: z.number().int().min(1).default(10_000),
});

/** A normalized `grant = "authorization_code"` entry. */
export type AuthorizationCodeOAuth = Omit<z.infer<typeof AuthorizationCodeSchema>, 'scopes'> & { readonly scopes: readonly string[] };
