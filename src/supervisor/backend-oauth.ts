import {
  type AddClientAuthentication,
  type AuthProvider,
  auth,
  ClientCredentialsProvider,
  checkResourceAllowed,
  createPrivateKeyJwtAuth,
  extractWWWAuthenticateParams,
  type FetchLike,
  OAuthClientFlowError,
  type OAuthDiscoveryState,
  OAuthError,
  SdkErrorCode,
  SdkHttpError,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
  UnauthorizedError,
} from '@modelcontextprotocol/client';
import type { BackendOAuth, ClientCredentialsOAuth } from '../config/backend-oauth-schema.js';
import type { TokenStore } from './backend-tokens.js';

/*
 * [oauth-out] The gateway as an OAuth client of a remote backend, built on
 * the SDK's own pieces: `ClientCredentialsProvider` (the grant, client_secret_basic,
 * the SEP-2352 issuer stamp) and `auth()` (the backend's 401 → its
 * protected-resource metadata, RFC 9728 → the authorization server's
 * metadata, RFC 8414 / OIDC, with the issuer checked against it → the token
 * request with `resource`, RFC 8707). What is ours: the tokens live in the
 * encrypted TokenStore, every request to the authorization server is
 * bounded by `token_timeout`, and any failure of the flow becomes
 * BackendAuthError (the backend's `needs_auth`, its calls'
 * BACKEND_AUTH_REQUIRED). The agent's own token is never involved: the
 * backend sees only tokens this client obtained.
 */

const UNPINNED = 'https://unpinned.invalid';

/** A token this close to its expiry is not sent: the backend's 401 brings a new one first. */
const EXPIRY_MARGIN_MS = 30_000;

/** The OAuth flow toward a backend failed: no token could be obtained, or the backend refused the new one. */
export class BackendAuthError extends Error {
  override readonly name = 'BackendAuthError';
}

/** What /server/list shows of a backend's OAuth: never a token or a secret. */
export interface OAuthView {
  grant: BackendOAuth['grant'];
  status: 'authorized' | 'expired' | 'none' | 'needs_auth';
  /** ISO time the held access token expires, or null. */
  expires_at: string | null;
}

/** The expiry of the tokens held per backend, for the views (updated on every load and save). */
const expiries = new Map<string, number | undefined>();

/** [oauth-out] Records the expiry of a backend's held token (null: none held) for the views. */
export function noteExpiry(backend: string, expiresAt: number | undefined | null): void {
  if (expiresAt === null) expiries.delete(backend);
  else expiries.set(backend, expiresAt);
}

/** The `oauth` field of a backend's /server/list row. */
export function oauthView(backend: string, oauth: BackendOAuth, needsAuth: boolean): OAuthView {
  const known = expiries.has(backend);
  const expiresAt = expiries.get(backend);
  const status = needsAuth ? 'needs_auth' : !known ? 'none' : expiresAt !== undefined && expiresAt <= Date.now() ? 'expired' : 'authorized';
  return { grant: oauth.grant, status, expires_at: expiresAt === undefined ? null : new Date(expiresAt).toISOString() };
}

/** Whether an error of the MCP client is the OAuth flow's failure (ours, or the SDK's 401 after a new token). */
export function isBackendAuthFailure(error: unknown): boolean {
  if (error instanceof BackendAuthError || UnauthorizedError.isInstance(error)) return true;
  // [oauth-out] authorization_code: the SDK's flow runs inside the transport (its 403 step-up), its errors unwrapped.
  if (OAuthError.isInstance(error) || OAuthClientFlowError.isInstance(error)) return true;
  return SdkHttpError.isInstance(error) && (error.code === SdkErrorCode.ClientHttpAuthentication || error.code === SdkErrorCode.ClientHttpForbidden);
}

/** ClientCredentialsProvider with its tokens in the TokenStore, the resource checked and an optional fixed token endpoint. */
class StoredClientCredentials extends ClientCredentialsProvider {
  constructor(
    private readonly store: TokenStore,
    private readonly backend: string,
    private readonly url: string,
    private readonly oauth: ClientCredentialsOAuth,
  ) {
    const scope = oauth.scopes.length === 0 ? undefined : oauth.scopes.join(' ');
    // Without `issuer` the SDK would warn on stderr; the stamp is then dropped in clientInformation() below.
    super({ clientId: oauth.client_id, clientSecret: oauth.client_secret ?? '', clientName: 'stonegate', scope, expectedIssuer: oauth.issuer ?? UNPINNED });
    // [oauth-out] private_key_jwt (RFC 7523 §2.2): the SDK's signed assertion instead of client_secret_basic.
    if (oauth.private_key !== undefined) {
      const key = oauth.private_key;
      this.addClientAuthentication = createPrivateKeyJwtAuth({
        issuer: oauth.client_id,
        subject: oauth.client_id,
        privateKey: key,
        alg: oauth.private_key_alg ?? 'RS256',
      });
    }
    expiries.set(backend, this.#entry()?.expires_at);
    if (this.#entry() === undefined) expiries.delete(backend);
  }

  addClientAuthentication: AddClientAuthentication | undefined;

  /** With `issuer`, the credentials go to that authorization server only; without, to the one the backend names. */
  override clientInformation(): StoredOAuthClientInformation {
    const { client_secret: secret, ...keyed } = super.clientInformation();
    const info = this.oauth.private_key === undefined ? { ...keyed, client_secret: secret } : keyed;
    if (this.oauth.issuer !== undefined) return info;
    const { issuer: _unpinned, ...rest } = info;
    return rest;
  }

  #entry() {
    return this.store.get(this.backend, this.url, this.oauth.client_id);
  }

  /** Without `ctx` (the bearer of one request): nothing when the token is about to expire, so the 401 gets a new one. */
  override tokens(ctx?: unknown): StoredOAuthTokens | undefined {
    const entry = this.#entry();
    if (entry === undefined) return undefined;
    if (ctx === undefined && entry.expires_at !== undefined && entry.expires_at - EXPIRY_MARGIN_MS <= Date.now()) return undefined;
    return entry.tokens;
  }

  override saveTokens(tokens: StoredOAuthTokens): void {
    const expiresAt = typeof tokens.expires_in === 'number' ? Date.now() + tokens.expires_in * 1000 : undefined;
    this.store.set({ backend: this.backend, url: this.url, client_id: this.oauth.client_id, tokens, expires_at: expiresAt });
    expiries.set(this.backend, expiresAt);
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope !== 'all' && scope !== 'tokens') return;
    this.store.delete(this.backend);
    expiries.delete(this.backend);
  }

  /** RFC 8707: the resource of the backend's metadata, which must cover the backend's URL; without metadata, the backend's URL. */
  async validateResourceURL(serverUrl: string | URL, resource?: string): Promise<URL | undefined> {
    if (resource === undefined) return new URL(this.url);
    if (!checkResourceAllowed({ requestedResource: serverUrl, configuredResource: resource })) {
      throw new BackendAuthError(`the protected-resource metadata names resource ${resource}, which does not cover ${String(serverUrl)} (resource mismatch)`);
    }
    return new URL(resource);
  }

  /** With `token_url`, the authorization server is not discovered: its token endpoint is given. */
  discoveryState(): OAuthDiscoveryState | undefined {
    if (this.oauth.token_url === undefined) return undefined;
    const issuer = this.oauth.issuer ?? new URL(this.oauth.token_url).origin;
    return {
      authorizationServerUrl: issuer,
      // authorization_endpoint is unused by client_credentials; the metadata type requires one.
      authorizationServerMetadata: {
        issuer,
        authorization_endpoint: this.oauth.token_url,
        token_endpoint: this.oauth.token_url,
        response_types_supported: ['token'],
      },
    };
  }
}

/**
 * `fetch` with every request bounded by `ms` (a token endpoint that hangs fails the flow, never the gateway).
 * A plain timer, not AbortSignal.any(AbortSignal.timeout()): a composed timeout signal that nothing else
 * holds can be garbage-collected before it fires, and the request then hangs.
 */
export function boundedFetch(ms: number): FetchLike {
  return async (input, init) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
    const outer = init?.signal;
    const forward = (): void => controller.abort(outer?.reason);
    outer?.addEventListener('abort', forward, { once: true });
    try {
      const response: Response = await fetch(input, { ...init, signal: controller.signal });
      // [oauth-out] The SDK reads an OAuth error answer only from an `instanceof Response`, and the gateway's
      // process has hono's Response as the global one (@hono/node-server): fetch's own is then re-wrapped.
      if (response instanceof Response) return response;
      const foreign = response as Response;
      return new Response(foreign.body, foreign);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', forward);
    }
  };
}

/** Why the flow failed, in a sentence (the secret scrubbed later with the backend's secrets). */
export function why(error: unknown, timeout: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || (error.cause instanceof Error && error.cause.name === 'TimeoutError'))) {
    return `the authorization server did not answer within token_timeout (${timeout} ms)`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * The transports' `authProvider` for a backend with `oauth`: the held token
 * on every request; on a 401, the SDK's auth() (discovery, the token
 * request) and the transport retries the request once with the new token.
 */
export function backendAuthProvider(store: TokenStore, backend: string, url: string, oauth: ClientCredentialsOAuth): AuthProvider {
  const provider = new StoredClientCredentials(store, backend, url, oauth);
  const fetchFn = boundedFetch(oauth.token_timeout);
  return {
    token: async () => provider.tokens()?.access_token,
    onUnauthorized: async (ctx) => {
      const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(ctx.response);
      let result: string;
      try {
        result = await auth(provider, { serverUrl: ctx.serverUrl, resourceMetadataUrl, scope, fetchFn });
      } catch (error) {
        provider.invalidateCredentials('tokens');
        throw new BackendAuthError(`no OAuth token for backend '${backend}' (client_credentials as '${oauth.client_id}'): ${why(error, oauth.token_timeout)}`);
      }
      if (result !== 'AUTHORIZED') throw new BackendAuthError(`no OAuth token for backend '${backend}': the authorization server asked for a redirect`);
    },
  };
}
