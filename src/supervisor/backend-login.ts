import { randomBytes } from 'node:crypto';
import {
  auth,
  checkResourceAllowed,
  computeScopeUnion,
  type FetchLike,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import type { AuthorizationCodeOAuth } from '../config/backend-login-schema.js';
import { BackendAuthError, boundedFetch, noteExpiry } from './backend-oauth.js';
import type { TokenStore } from './backend-tokens.js';

/*
 * [oauth-out] grant = "authorization_code": one OAuthClientProvider of the
 * SDK for both sides of the login. `stonegate auth login` (cli/auth.ts) runs
 * it interactively: the SDK's auth() discovers the authorization server
 * (RFC 9728, RFC 8414 / OIDC, issuer checked), registers the gateway when no
 * client_id is configured (its Client ID Metadata Document, else RFC 7591),
 * sends the browser to the authorization endpoint with PKCE S256 and
 * `resource` (RFC 8707), and redeems the code that comes back to a loopback
 * redirect, checking its RFC 9207 `iss`. The gateway runs it without a
 * browser: it sends the stored access token, refreshes it before it expires
 * and on a 401, and re-authorizes a 403 insufficient_scope by refreshing or,
 * when a refresh cannot widen the grant, by asking for a new login. Whenever
 * a person is needed, the gateway's redirect throws BackendAuthError naming
 * the command to run (the backend is needs_auth).
 */

/** A token this close to its expiry is refreshed before it is sent. */
const REFRESH_MARGIN_MS = 60_000;

/**
 * A resource indicator sent exactly as the protected-resource metadata publishes it: the SDK sends
 * `href`, and a URL parser adds "/" to a pathless `https://mcp.example.com` (RFC 9728 §3.3, RFC 8707).
 */
function verbatimResource(text: string): URL {
  const url = new URL(text);
  Object.defineProperty(url, 'href', { value: text });
  return url;
}

/** The command that logs a backend in, for messages. */
export function loginCommand(backend: string): string {
  return `stonegate auth login ${backend}`;
}

/** Where the login goes when a person is needed: the CLI opens it, the gateway cannot. */
export type OnRedirect = (authorizationUrl: URL) => void | Promise<void>;

/** The SDK's OAuthClientProvider for an authorization_code backend, its client and tokens in the TokenStore. */
export class LoginProvider implements OAuthClientProvider {
  #verifier: string | undefined;
  #discovery: OAuthDiscoveryState | undefined;
  #state: string | undefined;
  #refreshing: Promise<unknown> | undefined;
  /** Set by the gateway: the fetch that bounds requests to the authorization server. */
  fetchFn: FetchLike | undefined;

  constructor(
    private readonly store: TokenStore,
    readonly backend: string,
    readonly url: string,
    readonly oauth: AuthorizationCodeOAuth,
    /** The loopback redirect of the login; the gateway passes the one the client was registered with. */
    private readonly redirectUri: string | undefined,
    private readonly onRedirect: OnRedirect,
  ) {}

  get redirectUrl(): string {
    return this.redirectUri ?? this.store.getClient(this.backend, this.url)?.redirect_uri ?? 'http://127.0.0.1/callback';
  }

  get clientMetadataUrl(): string | undefined {
    return this.oauth.client_metadata_url;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: `stonegate (${this.backend})`,
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.oauth.client_secret === undefined ? 'none' : 'client_secret_basic',
    };
  }

  state(): string {
    this.#state = randomBytes(16).toString('base64url');
    return this.#state;
  }

  /** The state the last authorization request carried (the callback must bring it back). */
  get expectedState(): string | undefined {
    return this.#state;
  }

  /** The configured client (stamped with `issuer` when set), else the one registered for this backend. */
  clientInformation(): StoredOAuthClientInformation | undefined {
    const registered = this.store.getClient(this.backend, this.url)?.client;
    if (this.oauth.client_id === undefined) return registered;
    if (registered?.client_id === this.oauth.client_id) return { ...registered, client_secret: this.oauth.client_secret };
    const secret = this.oauth.client_secret === undefined ? {} : { client_secret: this.oauth.client_secret };
    return { client_id: this.oauth.client_id, ...secret, ...(this.oauth.issuer === undefined ? {} : { issuer: this.oauth.issuer }) };
  }

  saveClientInformation(client: StoredOAuthClientInformation): void {
    // A configured secret stays in the environment; a registered client's own secret is sealed with it.
    const { client_secret: secret, ...rest } = client;
    const kept = this.oauth.client_id === undefined ? client : rest;
    const wanted = this.store.getClient(this.backend, this.url)?.wanted_scope;
    this.store.setClient({ backend: this.backend, url: this.url, client: kept, redirect_uri: this.redirectUrl, ...(wanted ? { wanted_scope: wanted } : {}) });
    void secret;
  }

  #clientId(): string | undefined {
    return this.oauth.client_id ?? this.store.getClient(this.backend, this.url)?.client.client_id;
  }

  #entry() {
    const clientId = this.#clientId();
    const entry = clientId === undefined ? undefined : this.store.get(this.backend, this.url, clientId);
    noteExpiry(this.backend, entry === undefined ? null : entry.expires_at);
    return entry;
  }

  /**
   * With `ctx` (the SDK's flow): what is stored. Without (the bearer of one request): a token about to
   * expire is refreshed first, when a refresh token and a way to reach the server (fetchFn) are there.
   */
  async tokens(ctx?: unknown): Promise<StoredOAuthTokens | undefined> {
    const entry = this.#entry();
    if (entry === undefined || ctx !== undefined || this.fetchFn === undefined) return entry?.tokens;
    if (entry.expires_at === undefined || entry.expires_at - REFRESH_MARGIN_MS > Date.now()) return entry.tokens;
    if (entry.tokens.refresh_token === undefined) return undefined; // the 401 then asks for a login
    this.#refreshing ??= auth(this, { serverUrl: this.url, fetchFn: this.fetchFn }).finally(() => {
      this.#refreshing = undefined;
    });
    await this.#refreshing;
    return this.#entry()?.tokens;
  }

  saveTokens(tokens: StoredOAuthTokens): void {
    const clientId = this.#clientId();
    if (clientId === undefined) throw new BackendAuthError(`backend '${this.backend}': tokens without a client`);
    // A refresh answer may omit the refresh token (RFC 6749 §6): the one held stays valid.
    const held = this.store.get(this.backend, this.url, clientId)?.tokens.refresh_token;
    const kept = tokens.refresh_token === undefined && held !== undefined ? { ...tokens, refresh_token: held } : tokens;
    const expiresAt = typeof tokens.expires_in === 'number' ? Date.now() + tokens.expires_in * 1000 : undefined;
    this.store.set({ backend: this.backend, url: this.url, client_id: clientId, tokens: kept, expires_at: expiresAt });
    noteExpiry(this.backend, expiresAt ?? null);
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    await this.onRedirect(authorizationUrl);
  }

  saveCodeVerifier(verifier: string): void {
    this.#verifier = verifier;
  }

  codeVerifier(): string {
    if (this.#verifier === undefined) throw new BackendAuthError(`backend '${this.backend}': no login in progress`);
    return this.#verifier;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'tokens') {
      this.store.delete(this.backend);
      noteExpiry(this.backend, null);
    }
    if ((scope === 'all' || scope === 'client') && this.oauth.client_id === undefined) this.store.deleteClient(this.backend);
    if (scope === 'all' || scope === 'discovery') this.#discovery = undefined;
  }

  /** RFC 8707: the resource of the backend's metadata, which must cover the backend's URL; without metadata, the URL. */
  async validateResourceURL(serverUrl: string | URL, resource?: string): Promise<URL | undefined> {
    if (resource === undefined) return new URL(this.url);
    if (!checkResourceAllowed({ requestedResource: serverUrl, configuredResource: resource })) {
      throw new BackendAuthError(`the protected-resource metadata names resource ${resource}, which does not cover ${String(serverUrl)} (resource mismatch)`);
    }
    return verbatimResource(resource);
  }

  /** With `issuer`, the login belongs to that authorization server: a backend that names another is refused. */
  saveAuthorizationServerUrl(issuer: string): void {
    const pinned = this.oauth.issuer;
    if (pinned !== undefined && pinned.replace(/\/$/, '') !== issuer.replace(/\/$/, '')) {
      throw new BackendAuthError(`the backend names authorization server ${issuer}, not the configured issuer ${pinned}`);
    }
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.#discovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.#discovery;
  }

  /** Scopes a 403 asked for that a login must add (kept with the client registration, read by the next login). */
  rememberWantedScope(scope: string | undefined): void {
    const client = this.store.getClient(this.backend, this.url);
    const wanted = computeScopeUnion(client?.wanted_scope, scope);
    if (client !== undefined && wanted !== undefined && wanted !== client.wanted_scope) this.store.setClient({ ...client, wanted_scope: wanted });
  }

  /** The scope a login asks for: the configured scopes, those a backend asked for, and the 401's challenge. */
  loginScope(challenge: string | undefined): string | undefined {
    return computeScopeUnion(this.oauth.scopes.join(' '), this.store.getClient(this.backend, this.url)?.wanted_scope, challenge);
  }
}

/**
 * The gateway's provider for an authorization_code backend: it never opens a browser. When a login is
 * needed (none held, the refresh token refused, a scope only a new login grants), it remembers the scope
 * asked for and fails with BackendAuthError naming `stonegate auth login <backend>`.
 */
export function gatewayLoginProvider(store: TokenStore, backend: string, url: string, oauth: AuthorizationCodeOAuth, fetchFn: FetchLike): LoginProvider {
  const provider: LoginProvider = new LoginProvider(store, backend, url, oauth, undefined, (authorizationUrl) => {
    provider.rememberWantedScope(authorizationUrl.searchParams.get('scope') ?? undefined);
    throw new BackendAuthError(`backend '${backend}' needs a login (authorization_code)`);
  });
  provider.fetchFn = fetchFn;
  const clientInformation = provider.clientInformation.bind(provider);
  // No client and none configured: registering one from the gateway would be wasted (a login registers its own).
  provider.clientInformation = () => {
    const client = clientInformation();
    if (client === undefined) throw new BackendAuthError(`backend '${backend}' has no login yet`);
    return client;
  };
  return provider;
}

/**
 * The transport's fetch for an authorization_code backend: requests to the backend's MCP endpoint as
 * they are (a tool call may take long); every other one (metadata, token, refresh, registration) bounded
 * by `token_timeout`, a timeout failing as BackendAuthError, and without the backend's configured headers
 * when it leaves the backend's origin (the SDK merges them into every request of the transport).
 */
export function loginTransportFetch(url: string, oauth: AuthorizationCodeOAuth, headerNames: readonly string[]): FetchLike {
  const bounded = boundedFetch(oauth.token_timeout);
  const backend = new URL(url);
  return async (input, init) => {
    const target = new URL(input instanceof Request ? input.url : String(input));
    if (target.href === backend.href) return fetch(input, init);
    let request = init;
    if (target.origin !== backend.origin && headerNames.length > 0) {
      const headers = new Headers(init?.headers);
      for (const name of headerNames) headers.delete(name);
      request = { ...init, headers };
    }
    try {
      return await bounded(input, request);
    } catch (error) {
      if (error instanceof Error && (error.name === 'TimeoutError' || (error.cause instanceof Error && error.cause.name === 'TimeoutError'))) {
        throw new BackendAuthError(`the authorization server did not answer within token_timeout (${oauth.token_timeout} ms)`);
      }
      throw error;
    }
  };
}
