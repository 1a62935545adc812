import {
  type AuthorizationServerMetadata,
  type AuthProvider,
  ClientCredentialsProvider,
  checkResourceAllowed,
  discoverOAuthServerInfo,
  fetchToken,
  type StoredOAuthClientInformation,
} from '@modelcontextprotocol/client';
import type { ClientCredentialsOAuth as BackendOAuth } from '../config/backend-oauth-schema.js';
import { BackendAuthError, backendAuthProvider, boundedFetch, why } from './backend-oauth.js';
import type { TokenStore } from './backend-tokens.js';

/*
 * [oauth-out] grant = "token_exchange" (RFC 8693): each OAuth caller reaches
 * the backend as itself. The caller's inbound access token (the gateway's
 * [auth.oauth] verified it; auth/subject-tokens.ts holds it in memory) is the
 * `subject_token` of a token request the gateway makes as its own client
 * (client_id / client_secret, client_secret_basic) at the backend's
 * authorization server, with `resource` = the backend (RFC 8707): the token
 * it gets has the backend as audience and the caller as subject. The
 * caller's own token is never sent to the backend (no passthrough).
 *
 * The exchanged tokens are kept in memory only, per identity, until they
 * expire (never past the subject token's own expiry), at most MAX_IDENTITIES
 * per backend: one exchange per identity per token lifetime. Each identity's
 * calls run on connections of its own (pool/connecting-for.ts), which carry
 * that identity's token and nobody else's. The gateway's own requests (its
 * connect, the tool list, health checks) and callers without an OAuth token
 * use the `fallback` grant (client_credentials), or nothing.
 *
 * The SDK does the HTTP: discoverOAuthServerInfo (the backend's
 * protected-resource metadata, RFC 9728, then its authorization server's
 * metadata, issuer checked) and fetchToken (client authentication, resource,
 * the token response's schema) with a ClientCredentialsProvider whose token
 * request is the exchange.
 */

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const UNPINNED = 'https://unpinned.invalid';

/** The most identities whose exchanged tokens are kept per backend; the one used longest ago goes first. */
export const MAX_IDENTITIES = 1_000;

/** An exchanged token this close to its expiry is exchanged again before use. */
const EXPIRY_MARGIN_MS = 30_000;

/** A caller's inbound token: the subject of the exchange. */
export interface SubjectToken {
  token: string;
  /** When it expires (ms since the epoch). */
  until: number;
}

interface Held {
  subject: SubjectToken;
  token?: string;
  /** When `token` stops being used (ms since the epoch). */
  until?: number;
}

interface AuthorizationServer {
  url: string;
  metadata: AuthorizationServerMetadata;
  resource: URL;
}

/** The token request of RFC 8693 §2.1, made by the gateway's client with its credentials (client_secret_basic). */
class ExchangeRequest extends ClientCredentialsProvider {
  constructor(
    private readonly oauth: BackendOAuth,
    private readonly subject: string,
  ) {
    const scope = oauth.scopes.length === 0 ? undefined : oauth.scopes.join(' ');
    super({ clientId: oauth.client_id, clientSecret: oauth.client_secret ?? '', clientName: 'stonegate', scope, expectedIssuer: oauth.issuer ?? UNPINNED });
  }

  /** With `issuer`, the credentials go to that authorization server only (the SDK refuses another); without, to the one the backend names. */
  override clientInformation(): StoredOAuthClientInformation {
    const info = super.clientInformation();
    if (this.oauth.issuer !== undefined) return info;
    const { issuer: _unpinned, ...rest } = info;
    return rest;
  }

  override prepareTokenRequest(scope?: string): URLSearchParams {
    const params = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE,
      subject_token: this.subject,
      subject_token_type: ACCESS_TOKEN,
      requested_token_type: ACCESS_TOKEN,
    });
    if (scope !== undefined && scope !== '') params.set('scope', scope);
    return params;
  }
}

/** One backend's exchanges: its authorization server (discovered once) and the exchanged tokens per identity. */
export class TokenExchanger {
  readonly #held = new Map<string, Held>();
  readonly #exchanging = new Map<string, Promise<string>>();
  #server: Promise<AuthorizationServer> | undefined;
  /** Token requests sent (for the views and the tests' reading of the logs). */
  exchanges = 0;

  constructor(
    readonly backend: string,
    readonly url: string,
    readonly oauth: BackendOAuth,
    private readonly max = MAX_IDENTITIES,
  ) {}

  /** The exchanged token of `name`: the held one while it is fresh, else one exchanged now for `subject`. */
  tokenFor(name: string, subject: SubjectToken): Promise<string> {
    const fresh = this.fresh(name, subject);
    return fresh === undefined ? this.renew(name) : Promise.resolve(fresh);
  }

  /** Holds `subject` as the token of `name` and answers the held exchanged token while it is fresh (no await on the hot path). */
  fresh(name: string, subject: SubjectToken): string | undefined {
    const held = this.#held.get(name);
    // A newer subject (the caller came back with a new token) replaces the held one; the exchanged token stays while fresh.
    // Kept again either way: the identity used longest ago is the one dropped.
    this.#keep(name, held === undefined || held.subject.until < subject.until ? { ...held, subject } : held);
    return this.cached(name);
  }

  /** The held exchanged token of `name` while it is fresh. */
  cached(name: string): string | undefined {
    const held = this.#held.get(name);
    if (held?.token === undefined || held.until === undefined) return undefined;
    if (held.until - EXPIRY_MARGIN_MS <= Date.now()) return undefined;
    return held.token;
  }

  /** A new exchange for `name` with its held subject token (one at a time per identity); BackendAuthError when none can be had. */
  renew(name: string): Promise<string> {
    let running = this.#exchanging.get(name);
    if (running === undefined) {
      running = this.#exchange(name).finally(() => this.#exchanging.delete(name));
      this.#exchanging.set(name, running);
    }
    return running;
  }

  /** Forgets the exchanged token of `name` (the backend refused it). */
  drop(name: string): void {
    const held = this.#held.get(name);
    if (held !== undefined) this.#held.set(name, { subject: held.subject });
  }

  async #exchange(name: string): Promise<string> {
    const subject = this.#held.get(name)?.subject;
    if (subject === undefined || subject.until <= Date.now()) {
      throw new BackendAuthError(`the OAuth token of '${name}' expired; call again with a new one (backend '${this.backend}' is reached by token exchange)`);
    }
    try {
      const server = await this.#authorizationServer();
      this.exchanges += 1;
      const tokens = await fetchToken(new ExchangeRequest(this.oauth, subject.token), server.url, {
        metadata: server.metadata,
        resource: server.resource,
        fetchFn: boundedFetch(this.oauth.token_timeout),
      });
      const expires = typeof tokens.expires_in === 'number' ? Date.now() + tokens.expires_in * 1000 : subject.until;
      this.#keep(name, { subject, token: tokens.access_token, until: Math.min(expires, subject.until) });
      return tokens.access_token;
    } catch (error) {
      if (error instanceof BackendAuthError) throw error;
      throw new BackendAuthError(
        `no OAuth token for backend '${this.backend}' for '${name}' (token exchange as '${this.oauth.client_id}'): ${why(error, this.oauth.token_timeout)}`,
      );
    }
  }

  #keep(name: string, held: Held): void {
    this.#held.delete(name);
    this.#held.set(name, held);
    if (this.#held.size > this.max) this.#held.delete(this.#held.keys().next().value ?? '');
  }

  /** The token endpoint and the resource: `token_url`, else discovered from the backend (a failure is tried again next time). */
  #authorizationServer(): Promise<AuthorizationServer> {
    this.#server ??= this.#discover().catch((error: unknown) => {
      this.#server = undefined;
      throw error;
    });
    return this.#server;
  }

  async #discover(): Promise<AuthorizationServer> {
    const { oauth } = this;
    if (oauth.token_url !== undefined) {
      const issuer = oauth.issuer ?? new URL(oauth.token_url).origin;
      const metadata = { issuer, authorization_endpoint: oauth.token_url, token_endpoint: oauth.token_url, response_types_supported: ['token'] };
      return { url: issuer, metadata, resource: new URL(this.url) };
    }
    const info = await discoverOAuthServerInfo(this.url, { fetchFn: boundedFetch(oauth.token_timeout) });
    const metadata = info.authorizationServerMetadata;
    if (metadata === undefined) throw new BackendAuthError(`the authorization server ${info.authorizationServerUrl} publishes no metadata`);
    const named = info.resourceMetadata?.resource;
    if (named !== undefined && !checkResourceAllowed({ requestedResource: this.url, configuredResource: named })) {
      throw new BackendAuthError(`the protected-resource metadata names resource ${named}, which does not cover ${this.url} (resource mismatch)`);
    }
    return { url: info.authorizationServerUrl, metadata, resource: new URL(named ?? this.url) };
  }
}

const exchangers = new Map<string, TokenExchanger>();
/** By the (frozen) entry itself: a call finds its exchanger without building the key. */
const byEntry = new WeakMap<BackendOAuth, TokenExchanger>();

/** The exchanger of a backend entry (one per backend, URL and client: an edited entry starts afresh, a reloaded equal one keeps its tokens). */
export function exchangerFor(backend: string, url: string, oauth: BackendOAuth): TokenExchanger {
  const known = byEntry.get(oauth);
  if (known !== undefined && known.backend === backend && known.url === url) return known;
  const key = JSON.stringify([backend, url, oauth.client_id, oauth.issuer ?? '', oauth.token_url ?? '', oauth.scopes]);
  let exchanger = exchangers.get(key);
  if (exchanger === undefined || exchanger.oauth.client_secret !== oauth.client_secret) {
    exchanger = new TokenExchanger(backend, url, oauth);
    exchangers.set(key, exchanger);
  }
  byEntry.set(oauth, exchanger);
  return exchanger;
}

/**
 * The transports' authProvider of a token_exchange backend's connection.
 * Made for an identity (`identity`): that identity's exchanged token on every
 * request, exchanged again on a 401 (the request is retried once). The
 * gateway's own: the fallback's client_credentials, or no token — and a 401
 * then says which key is missing.
 */
export function exchangeAuthProvider(store: TokenStore, backend: string, url: string, oauth: BackendOAuth, identity: string | undefined): AuthProvider {
  if (identity === undefined) {
    if (oauth.fallback === 'client_credentials') return backendAuthProvider(store, backend, url, { ...oauth, grant: 'client_credentials' });
    return {
      token: async () => undefined,
      onUnauthorized: async () => {
        throw new BackendAuthError(
          `backend '${backend}' wants a token for the gateway's own requests (its tool list) too; give its oauth a fallback = "client_credentials"`,
        );
      },
    };
  }
  const exchanger = exchangerFor(backend, url, oauth);
  return {
    token: async () => exchanger.cached(identity) ?? (await exchanger.renew(identity)),
    onUnauthorized: async () => {
      exchanger.drop(identity);
      await exchanger.renew(identity);
    },
  };
}
