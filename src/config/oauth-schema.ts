import { z } from 'zod';
import { isLoopbackHost } from '../../kit/loopback.js';

/*
 * [auth.oauth]: the front door as an OAuth 2.1 protected resource (the MCP
 * authorization spec, RFC 9728 metadata, RFC 8707 resource indicators).
 * An empty `issuer` leaves OAuth off; every other key then does nothing.
 */

/** An https URL, or http on a loopback host (a local identity provider, tests). */
function secureUrl(what: string): z.ZodType<string> {
  return z.string().refine((value) => {
    if (value === '') return true;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return false;
    }
    if (url.hash !== '' || url.username !== '' || url.password !== '') return false;
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  }, `${what}: an https:// URL (http:// only on a loopback host), without a fragment or credentials; "" for none`);
}

const scopeName = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token (RFC 6749: printable ASCII, no space, quote or backslash)');

/** A claim name of the token: `sub`, `email`, `groups`, … */
const claimName = z.string().regex(/^([A-Za-z0-9_:./-]{1,128})?$/, 'a claim name of 1 to 128 characters from [A-Za-z0-9_:./-], or "" for none');

export const OAuthSchema = z
  .strictObject({
    issuer: secureUrl('issuer').default(''),
    resource: secureUrl('resource').default(''),
    audience: z.array(z.string().min(1)).default([]),
    jwks_url: secureUrl('jwks_url').default(''),
    scopes_supported: z.array(scopeName).default(['stonegate:agent', 'stonegate:admin']),
    agent_scope: scopeName.default('stonegate:agent'),
    admin_scope: scopeName.default('stonegate:admin'),
    view_claim: claimName.default(''),
    identity_claim: claimName.refine((v) => v !== '', 'a claim name').default('sub'),
    servers_claim: claimName.default(''),
    introspection_url: secureUrl('introspection_url').default(''),
    // The gateway's own client at the provider, for introspection (client_secret_basic); the secret from the environment.
    client_id: z.string().default(''),
    client_secret: z.string().default(''),
    // Seconds between two JWKS fetches that an unknown key id (`kid`) may trigger (jose's cooldown).
    jwks_cooldown: z.number().min(0).max(3_600).default(30),
  })
  .superRefine((o, ctx) => {
    // Keys the issue names whose features are not built yet: refused rather than ignored.
    if (o.introspection_url !== '' && (o.client_id === '' || o.client_secret === ''))
      ctx.addIssue({
        code: 'custom',
        path: ['client_id'],
        message: "introspection_url needs client_id and client_secret (the gateway's client at the provider)",
      });
    // The MCP authorization spec (2026-07-28): refresh tokens are no resource requirement.
    if ([...o.scopes_supported, o.agent_scope, o.admin_scope].includes('offline_access'))
      ctx.addIssue({ code: 'custom', path: ['scopes_supported'], message: 'offline_access is no scope of a resource; leave it to the clients' });
    if (o.issuer !== '' && o.agent_scope === o.admin_scope) ctx.addIssue({ code: 'custom', path: ['admin_scope'], message: 'must differ from agent_scope' });
  })
  .prefault({});

export type OAuthSettings = z.infer<typeof OAuthSchema>;
