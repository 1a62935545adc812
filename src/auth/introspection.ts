import { createHash } from 'node:crypto';
import type { GatewayError } from '../errors.js';

/*
 * Opaque access tokens (not JWTs) of [auth.oauth]: asked of the provider's
 * introspection endpoint (RFC 7662) with the gateway's own client
 * credentials (client_secret_basic). An active answer is checked as a JWT's
 * claims are (issuer, an accepted audience — required: a token for another
 * resource is refused —, exp/nbf with 60 s of tolerance) and kept at most 30 s
 * and never past its exp, so a revoked token stops working within 30 s.
 */

/** How long an introspection may take before the provider counts as unreachable (ms). */
const TIMEOUT = 5_000;
/** The longest an active answer is kept (ms). */
const KEEP = 30_000;
const MAX_KEPT = 10_000;

export interface IntrospectionOptions {
  url: string;
  clientId: string;
  clientSecret: string;
  issuer: string;
  audiences: () => readonly string[];
  invalid: (why: string) => GatewayError;
  unavailable: (why: string) => GatewayError;
}

export class Introspector {
  readonly #options: IntrospectionOptions;
  readonly #kept = new Map<string, { claims: Record<string, unknown>; until: number }>();

  constructor(options: IntrospectionOptions) {
    this.#options = options;
  }

  /** The claims of an active token that checks; UNAUTHORIZED or AUTH_UNAVAILABLE (GatewayErrors) else. */
  async claims(token: string): Promise<Record<string, unknown>> {
    const key = createHash('sha256').update(token, 'utf8').digest('hex');
    const now = Date.now();
    const kept = this.#kept.get(key);
    if (kept !== undefined && kept.until > now) return kept.claims;
    this.#kept.delete(key);
    const claims = this.#check(await this.#ask(token));
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : Number.POSITIVE_INFINITY;
    this.#kept.set(key, { claims, until: Math.min(now + KEEP, exp) });
    if (this.#kept.size > MAX_KEPT) this.#kept.delete(this.#kept.keys().next().value ?? '');
    return claims;
  }

  async #ask(token: string): Promise<Record<string, unknown>> {
    const { url, clientId, clientSecret, unavailable } = this.#options;
    // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        signal: AbortSignal.timeout(TIMEOUT),
        redirect: 'error',
      });
    } catch (err) {
      throw unavailable(`${url}: ${(err as Error).message}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw unavailable(`${url}: HTTP ${response.status}`);
    }
    try {
      const body = (await response.json()) as unknown;
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
    } catch {
      // answered below
    }
    throw unavailable(`${url}: the answer is not a JSON object`);
  }

  #check(claims: Record<string, unknown>): Record<string, unknown> {
    const { issuer, audiences, invalid } = this.#options;
    if (claims.active !== true) throw invalid('the identity provider says it is not active (unknown, expired or revoked)');
    if (claims.iss !== undefined && claims.iss !== issuer) throw invalid(`its issuer is ${JSON.stringify(claims.iss)}, not ${issuer}`);
    const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!audiences().some((a) => aud.includes(a))) throw invalid(`its audience ${JSON.stringify(claims.aud ?? null)} is not this gateway's`);
    const now = Date.now() / 1000;
    if (typeof claims.exp === 'number' && claims.exp < now - 60) throw invalid('it has expired');
    if (typeof claims.nbf === 'number' && claims.nbf > now + 60) throw invalid('it is not valid yet');
    return claims;
  }
}
