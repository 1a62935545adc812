import { createHash } from 'node:crypto';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { isLoopbackHost } from '../../kit/loopback.js';
import type { AuthSettings } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { Introspector } from './introspection.js';
import type { Identity } from './tokens.js';

/*
 * [auth.oauth]: bearer JWTs from an identity provider (the MCP authorization
 * spec: the gateway is an OAuth 2.1 protected resource). Verification is
 * jose's: the provider's JWKS (createRemoteJWKSet: cached, refetched on an
 * unknown key id, so keys rotate without a restart), then jwtVerify with the
 * issuer, the accepted audiences, exp/nbf with 60 s of clock tolerance and
 * asymmetric algorithms only (`none` and HS* never verify). The JWKS comes
 * from `jwks_url`, else from the issuer's metadata (RFC 8414
 * /.well-known/oauth-authorization-server, then OpenID Connect discovery),
 * whose `issuer` must be the configured one.
 */

/** The largest bearer token taken (bytes of the header value's token). */
export const MAX_TOKEN_BYTES = 16 * 1024;

/** The JWS algorithms a token may be signed with: asymmetric only. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/**
 * [speed] jose, loaded at the first JWT to verify: a gateway without
 * [auth.oauth] (the default) never loads it, and its ~3.5 MB of idle RSS
 * with it (bench/RESULTS.md, "idle RSS").
 */
let joseLoading: Promise<typeof import('jose')> | undefined;
const jose = (): Promise<typeof import('jose')> => (joseLoading ??= import('jose'));

/** How long a metadata or JWKS fetch may take before the provider counts as unreachable (ms). */
const FETCH_TIMEOUT = 5_000;

/** The Retry-After of AUTH_UNAVAILABLE (s), and how long a failed discovery is not retried. */
const RETRY_AFTER = 5;

/** jose error codes that say the token is bad (anything else it throws means the keys could not be had). */
const TOKEN_FAULTS = new Set([
  'ERR_JWT_EXPIRED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_INVALID',
  'ERR_JWS_INVALID',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
]);

/** A compact JWS: three base64url segments (the payload may be empty only in detached form, which is no access token). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** A claim value kept as it is in an OAuth identity's name; any other is hashed (oauthName). */
const SAFE_CLAIM = /^[A-Za-z0-9_.@|+=:-]{1,96}$/;

/** OAuth identities, and when the token that made each expires (ms since the epoch). */
const oauthIdentities = new WeakMap<Identity, number>();

/** Whether an identity came from an OAuth token (not from [[auth.tokens]]). */
export function isOAuthIdentity(identity: Identity | undefined): boolean {
  return identity !== undefined && oauthIdentities.has(identity);
}

/** When the token of an OAuth identity expires (ms since the epoch); 0 for another identity. */
export function expiryOf(identity: Identity): number {
  return oauthIdentities.get(identity) ?? 0;
}

/**
 * The agent name of an OAuth identity: `oauth:` and the identity claim's
 * value, which no [[auth.tokens]] name can be (they refuse `:`). A value with
 * other characters than [A-Za-z0-9_.@|+=:-], or over 96 of them, becomes
 * `oauth:~` and the first 32 hex digits of its sha256, so the name is always a
 * valid coordination agent id and prints as what it is.
 */
export function oauthName(value: string): string {
  if (SAFE_CLAIM.test(value)) return `oauth:${value}`;
  return `oauth:~${createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 32)}`;
}

/** The RFC 9728 metadata URL of a resource: the well-known path inserted between its origin and path. */
export function metadataUrlOf(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/** The refusal of a token that does not verify (401, WWW-Authenticate error="invalid_token"). */
function invalid(why: string): GatewayError {
  return new GatewayError('UNAUTHORIZED', `The bearer token is not valid: ${why}`);
}

function unavailable(why: string): GatewayError {
  return new GatewayError('AUTH_UNAVAILABLE', `The identity provider could not be reached to verify the token (${why}); retry later`, {
    retryAfter: RETRY_AFTER,
  });
}

export class OAuthVerifier {
  readonly #settings: AuthSettings['oauth'];
  readonly #auth: Readonly<AuthSettings>;
  #listening: string | undefined;
  #keys: JWTVerifyGetKey | undefined;
  #discovering: Promise<JWTVerifyGetKey> | undefined;
  /** The last failed discovery and when: refused again without a fetch for RETRY_AFTER seconds. */
  #failed: { at: number; error: unknown } | undefined;
  readonly #introspector: Introspector | undefined;

  constructor(auth: Readonly<AuthSettings>) {
    this.#auth = auth;
    this.#settings = auth.oauth;
    const s = this.#settings;
    if (s.introspection_url !== '') {
      this.#introspector = new Introspector({
        url: s.introspection_url,
        clientId: s.client_id,
        clientSecret: s.client_secret,
        issuer: s.issuer,
        audiences: () => this.#audiences(),
        invalid,
        unavailable,
      });
    }
  }

  /** The gateway's base URL once it listens (the default resource is its /mcp). */
  listening(url: string): void {
    this.#listening = url;
  }

  /** The canonical URL of the gateway's MCP endpoint (RFC 8707): `resource`, else http://<host>:<port>/mcp. */
  get resource(): string {
    if (this.#settings.resource !== '') return this.#settings.resource;
    return `${this.#listening ?? 'http://127.0.0.1'}/mcp`;
  }

  get issuer(): string {
    return this.#settings.issuer;
  }

  get agentScope(): string {
    return this.#settings.agent_scope;
  }

  get adminScope(): string {
    return this.#settings.admin_scope;
  }

  /** The protected-resource metadata document (RFC 9728). */
  metadata(): Record<string, unknown> {
    return {
      resource: this.resource,
      authorization_servers: [this.#settings.issuer],
      scopes_supported: this.#settings.scopes_supported,
      bearer_methods_supported: ['header'],
    };
  }

  /**
   * The identity of a bearer JWT, or UNAUTHORIZED (it does not verify),
   * FORBIDDEN with `required_scope` (it verifies but lacks agent_scope), or
   * AUTH_UNAVAILABLE (the provider's metadata or keys could not be had).
   */
  async authenticate(token: string): Promise<Identity> {
    if (Buffer.byteLength(token, 'utf8') > MAX_TOKEN_BYTES) throw invalid(`it is over ${MAX_TOKEN_BYTES} bytes`);
    if (!COMPACT_JWS.test(token)) {
      // Not a JWT: an opaque token, when the provider can be asked about one (RFC 7662).
      if (this.#introspector === undefined) throw invalid('it is neither a configured token nor a JWT');
      return this.#identity(await this.#introspector.claims(token));
    }
    const keys = await this.#jwks();
    const { jwtVerify, errors } = await jose();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.#settings.issuer,
        audience: [...this.#audiences()],
        algorithms: ALGORITHMS,
        clockTolerance: 60,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof errors.JOSEError && TOKEN_FAULTS.has(err.code)) throw invalid(err.message);
      throw unavailable(err instanceof Error ? err.message : String(err));
    }
    return this.#identity(payload);
  }

  /** The accepted `aud` values: `audience`, else [resource]. */
  #audiences(): readonly string[] {
    return this.#settings.audience.length > 0 ? this.#settings.audience : [this.resource];
  }

  #identity(payload: Record<string, unknown>): Identity {
    const s = this.#settings;
    const claim = payload[s.identity_claim];
    if (typeof claim !== 'string' && typeof claim !== 'number') throw invalid(`it has no '${s.identity_claim}' claim ([auth.oauth] identity_claim)`);
    // RFC 9068 / 7662 `scope` (a space-separated string); some providers send `scp` (Entra ID a string, Okta an array).
    const scopes = new Set([...serversOf(payload.scope), ...serversOf(payload.scp)]);
    const name = oauthName(String(claim));
    if (!scopes.has(s.agent_scope) && !scopes.has(s.admin_scope)) {
      throw new GatewayError('FORBIDDEN', `The token of '${name}' lacks the scope '${s.agent_scope}' that every route but the public ones needs`, {
        details: { required_scope: s.agent_scope },
      });
    }
    const rateLimit = this.#auth.rate_limit;
    const identity: Identity = Object.freeze({
      name,
      role: scopes.has(s.admin_scope) ? 'admin' : 'agent',
      servers: s.servers_claim === '' ? undefined : serversOf(payload[s.servers_claim]),
      rateLimit,
      burst: this.#auth.burst > 0 ? this.#auth.burst : Math.max(1, Math.ceil(rateLimit * 2)),
      maxConcurrent: this.#auth.max_concurrent,
      // [[views]] The view_claim names the one view the token sees (a string claim; absent: any view).
      ...(s.view_claim !== '' && typeof payload[s.view_claim] === 'string' ? { view: payload[s.view_claim] as string } : {}),
    });
    // An introspection answer without exp counts as long as it is kept (30 s).
    oauthIdentities.set(identity, typeof payload.exp === 'number' ? payload.exp * 1000 : Date.now() + 30_000);
    return identity;
  }

  async #remote(url: string): Promise<JWTVerifyGetKey> {
    const { createRemoteJWKSet } = await jose();
    return createRemoteJWKSet(new URL(url), { timeoutDuration: FETCH_TIMEOUT, cooldownDuration: this.#settings.jwks_cooldown * 1000 });
  }

  /** The key set: from jwks_url, else discovered once from the issuer's metadata (a failed discovery is retried on the next request). */
  #jwks(): Promise<JWTVerifyGetKey> {
    if (this.#keys !== undefined) return Promise.resolve(this.#keys);
    // jwks_url: the key set is made at the first token (jose is loaded then), once.
    if (this.#settings.jwks_url !== '') return (this.#discovering ??= this.#remote(this.#settings.jwks_url).then((keys) => (this.#keys = keys)));
    // A provider that just failed is not asked again at once: requests cannot make the gateway flood it.
    if (this.#failed !== undefined && Date.now() - this.#failed.at < RETRY_AFTER * 1000) return Promise.reject(this.#failed.error);
    this.#discovering ??= discoverJwksUri(this.#settings.issuer).then(
      async (uri) => {
        this.#keys = await this.#remote(uri);
        this.#failed = undefined;
        return this.#keys;
      },
      (err: unknown) => {
        this.#discovering = undefined;
        this.#failed = { at: Date.now(), error: err };
        throw err;
      },
    );
    return this.#discovering;
  }
}

/** An https URL, or http on a loopback host (as [auth.oauth] takes its URLs). */
function secureUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  } catch {
    return false;
  }
}

/** A list claim (servers, scopes): an array of names, or one space-separated string; anything else (or none) is none. */
function serversOf(value: unknown): ReadonlySet<string> {
  if (typeof value === 'string') return new Set(value.split(' ').filter((x) => x !== ''));
  if (Array.isArray(value)) return new Set(value.filter((x): x is string => typeof x === 'string'));
  return new Set();
}

/**
 * The issuer's jwks_uri from its metadata: RFC 8414 (well-known path
 * inserted before the issuer's path), then OpenID Connect discovery (inserted,
 * then appended). The document's `issuer` must be the configured issuer
 * exactly (RFC 8414 §3.3), else it is not taken.
 */
export async function discoverJwksUri(issuer: string): Promise<string> {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const candidates = [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
  const problems: string[] = [];
  for (const candidate of [...new Set(candidates)]) {
    let response: Response;
    try {
      response = await fetch(candidate, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT), redirect: 'error' });
    } catch (err) {
      throw unavailable(`${candidate}: ${(err as Error).message}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      problems.push(`${candidate}: HTTP ${response.status}`);
      continue;
    }
    let document: Record<string, unknown>;
    try {
      document = (await response.json()) as Record<string, unknown>;
    } catch {
      problems.push(`${candidate}: not JSON`);
      continue;
    }
    if (document.issuer !== issuer) {
      problems.push(`${candidate}: its issuer is ${JSON.stringify(document.issuer)}, not ${issuer}`);
      continue;
    }
    if (typeof document.jwks_uri !== 'string' || !secureUrl(document.jwks_uri)) throw unavailable(`${candidate} names no https jwks_uri`);
    return document.jwks_uri;
  }
  throw unavailable(`no authorization server metadata: ${problems.join('; ')}`);
}
