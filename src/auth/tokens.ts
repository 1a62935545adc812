import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthSettings } from '../config/schema.js';
import { RememberedIdentities } from './remembered.js';

/** Who a request is: a configured token, by name. */
export interface Identity {
  /** The token's name: the agent in logs, the call log and the audit log, and the owner of its async calls. */
  readonly name: string;
  readonly role: 'agent' | 'admin';
  /** The backends the token may see and call; undefined means every backend. */
  readonly servers: ReadonlySet<string> | undefined;
  /** Requests per second (0: no limit) and the bucket size. */
  readonly rateLimit: number;
  readonly burst: number;
  /** Tool calls in flight at once (0: no limit). */
  readonly maxConcurrent: number;
  /** [[views]]: the one view the token sees (its `view`, or the OAuth view_claim); undefined: any. */
  readonly view?: string;
}

interface Entry {
  identity: Identity;
  digest: Buffer;
}

/** The sha256 of a token as `[auth] tokens` `hash` takes it. */
export function tokenHash(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/**
 * The configured bearer tokens. Only digests are kept in memory: a
 * presented token is hashed and compared with every configured digest in
 * constant time (each comparison is timingSafeEqual over 32 bytes, and all
 * of them run whatever matches), so neither the token nor which entry it
 * resembles can be learned from timing.
 */
export class TokenTable {
  #entries: Entry[] = [];
  #byName = new Map<string, Identity>();
  /** OAuth identities by name (remember). */
  readonly #remembered = new RememberedIdentities();

  constructor(auth: Readonly<AuthSettings>) {
    this.replace(auth);
  }

  /** Takes on the tokens of a reloaded [auth] (gateway/reload.ts): a removed token fails its next request, a narrowed one's next call is checked against its new servers. */
  replace(auth: Readonly<AuthSettings>): void {
    const byName = new Map<string, Identity>();
    this.#entries = auth.tokens.map((t) => {
      const hex = t.hash !== undefined ? t.hash.slice('sha256:'.length).toLowerCase() : tokenHash(t.token ?? '').slice('sha256:'.length);
      const rateLimit = t.rate_limit ?? auth.rate_limit;
      const identity: Identity = Object.freeze({
        name: t.name,
        role: t.role,
        servers: t.servers === undefined ? undefined : new Set(t.servers),
        rateLimit,
        burst: t.burst ?? (auth.burst > 0 ? auth.burst : Math.max(1, Math.ceil(rateLimit * 2))),
        maxConcurrent: t.max_concurrent ?? auth.max_concurrent,
        ...(t.view === undefined ? {} : { view: t.view }),
      });
      byName.set(t.name, identity);
      return { identity, digest: Buffer.from(hex, 'hex') };
    });
    this.#byName = byName;
  }

  /** Whether any token is configured: then every route but /health needs one. */
  get enabled(): boolean {
    return this.#entries.length > 0;
  }

  /** The identity of an `Authorization` header value, or undefined for none or a wrong one. */
  authenticate(header: string | undefined): Identity | undefined {
    const token = bearerOf(header);
    if (token === undefined) return undefined;
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let found: Identity | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(digest, entry.digest) && found === undefined) found = entry.identity;
    }
    return found;
  }

  /** The identity of a token name (a call's caller), when it is one. */
  byName(name: string | undefined): Identity | undefined {
    return name === undefined ? undefined : (this.#byName.get(name) ?? this.#remembered.get(name));
  }

  /**
   * Keeps an OAuth identity (src/auth/oauth.ts) by its name until `until`
   * (its token's expiry, ms), so that the calls made for its requests find
   * it as a token's are found (byName; src/auth/remembered.ts).
   */
  remember(identity: Identity, until: number): void {
    this.#remembered.remember(identity, until);
  }
}

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive). */
export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** Whether an identity may see a backend. */
export function mayUse(identity: Identity | undefined, server: string): boolean {
  return identity?.servers === undefined || identity.servers.has(server);
}
