import type { AuthProvider, OAuthClientProvider, Transport } from '@modelcontextprotocol/client';
import { SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { basicCredential, scrub, secretsOf } from '../../config/redact.js';
import type { BackendConfig } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import { takeConnectingIdentity } from '../../pool/connecting-for.js';
import { Connection } from '../../pool/connection.js';
import { gatewayLoginProvider, loginCommand, loginTransportFetch } from '../backend-login.js';
import { backendAuthProvider, isBackendAuthFailure } from '../backend-oauth.js';
import { exchangeAuthProvider } from '../backend-token-exchange.js';
import { tokenStore } from '../backend-tokens.js';
import { describeInitError, legacyHooks, newClient, serverInfo, transportClosed, withinDeadline } from '../connect.js';
import { httpFault } from '../http-fault.js';
import type { TransportContext } from '../transport.js';

/** Connects to a remote MCP server: Streamable HTTP first, legacy SSE when that is refused. */
export async function connectHttp(config: BackendConfig, context: TransportContext): Promise<Connection> {
  const { logger, hooks } = context;
  const url = new URL(config.url ?? '');
  const headers: Record<string, string> = { ...config.headers };
  // fetch() refuses URLs with credentials (and names them in its error):
  // they become a Basic Authorization header, unless one is given.
  if (url.username !== '' || url.password !== '') {
    const hasAuth = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
    if (!hasAuth) headers.Authorization = `Basic ${basicCredential(url) ?? ''}`;
    url.username = '';
    url.password = '';
  }
  // [oauth-out] The gateway's own OAuth client toward this backend (backend-oauth.ts, backend-login.ts); a failed flow is BACKEND_AUTH_REQUIRED.
  // [oauth-out] A connection made for one caller (token_exchange) carries its token; an auth failure is then that caller's call's, the link stays.
  const identity = takeConnectingIdentity();
  const personal = identity !== undefined;
  const authProvider = oauthProvider(config, context, identity);
  const login = config.oauth?.grant === 'authorization_code';
  const requestInit = { headers };
  const transportFetch = config.oauth?.grant === 'authorization_code' ? loginTransportFetch(url.href, config.oauth, Object.keys(config.headers)) : undefined;
  const fix = login ? `run \`${loginCommand(config.name)}\`` : 'fix its oauth settings or the authorization server, then POST /server/restart';
  const authFailure = (error: unknown): GatewayError =>
    new GatewayError('BACKEND_AUTH_REQUIRED', scrub(`Backend '${config.name}' needs auth: ${(error as Error).message}; ${fix}`, secretsOf(config)));
  // The address without credentials or query (which may carry a key), and header names only.
  const where = `${url.origin}${url.pathname}`;
  // start_timeout bounds the whole connect, the legacy-SSE fallback
  // included: the SDK's request timeout covers initialize only, not the SSE
  // stream's opening (a listener that accepts and never answers held it
  // for minutes, and the backend name's lock with it).
  const deadline = Date.now() + config.startTimeout;
  const attempt = async (transport: Transport, kind: string): Promise<Connection> => {
    logger.debug({ url: where, transport: kind, header_keys: Object.keys(headers).sort(), start_timeout: config.startTimeout }, 'connecting to remote backend');
    // [mcp-bridge] era (supervisor/era.ts): `auto` probes in place with server/discover on the first
    // connection, later ones pass the cached verdict as `prior`. Legacy SSE is 2025-era only (pool/backend-era.ts).
    const sse = kind === 'sse';
    const client = newClient(sse ? legacyHooks(hooks) : hooks, sse ? undefined : hooks.era?.negotiation());
    let connection: Connection | undefined;
    /** Set when the server lost our session: the end of the link is a failure with this reason. */
    let lost: string | undefined;
    const ended = new Promise<{ reason: string; stderr: readonly string[] }>((resolve) => {
      transportClosed(transport, () => resolve({ reason: lost ?? 'the HTTP session closed', stderr: [] }));
    });
    // Set before connect(): the SDK's Protocol keeps an onerror it finds.
    if (transport instanceof StreamableHTTPClientTransport) {
      transport.onerror = (error) => {
        // [oauth-out] No token the backend accepts: the link ends, and the reconnect shows needs_auth.
        if (authProvider !== undefined && !personal && connection !== undefined && lost === undefined && isBackendAuthFailure(error)) {
          lost = authFailure(error).message;
          setImmediate(() => void transport.close());
          return;
        }
        const fault = httpFault(error);
        if (fault === undefined || connection === undefined || lost !== undefined) return;
        // [mcp-bridge] A 2026-07-28 link has no session to lose: its 404 is one request's answer (a method the era lacks).
        if (fault.kind === 'session' && connection.era === 'modern') return;
        if (fault.kind === 'unreachable') {
          connection.onFault?.(fault.reason);
          return;
        }
        // A session the server no longer knows fails every request: the
        // link ends (the backend initializes a new one at once). Closed on
        // the next turn, so the request that met the refusal fails with it
        // rather than with "Connection closed".
        lost = fault.reason;
        setImmediate(() => void transport.close());
      };
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('Request timed out before the attempt');
    await withinDeadline(client.connect(transport, { timeout: left, prior: sse ? undefined : hooks.era?.prior() }), left, () => client.close());
    hooks.era?.learn(client);
    logger.debug({ url: where, transport: kind, server_info: serverInfo(client) }, 'backend initialized');
    connection = new Connection({
      client,
      ended,
      shutdown: async () => {
        if (transport instanceof StreamableHTTPClientTransport && lost === undefined) await transport.terminateSession().catch(() => undefined);
        await client.close();
      },
    });
    return connection;
  };
  try {
    return await attempt(new StreamableHTTPClientTransport(url, { requestInit, authProvider, fetch: transportFetch }), 'streamable-http');
  } catch (first) {
    if (authProvider !== undefined && isBackendAuthFailure(first)) throw authFailure(first);
    logger.debug({ url: where, error: scrub(describeInitError(first, config.startTimeout), secretsOf(config)) }, 'Streamable HTTP refused; trying legacy SSE');
    try {
      return await attempt(new SSEClientTransport(url, { requestInit, authProvider, fetch: transportFetch }), 'sse');
    } catch (second) {
      if (authProvider !== undefined && isBackendAuthFailure(second)) throw authFailure(second);
      // A timeout in either attempt is the news (the other one's refusal says less).
      const timedOut = [first, second].some((e) => e instanceof Error && /timed out/i.test(e.message));
      const why = timedOut
        ? `no MCP answer within start_timeout (${config.startTimeout} ms), Streamable HTTP and the legacy-SSE fallback together; is the URL an MCP endpoint, and does the server answer?`
        : scrub(describeInitError(first, config.startTimeout), secretsOf(config));
      throw new GatewayError('BACKEND_UNAVAILABLE', `Backend '${config.name}' at ${where} did not accept an MCP connection: ${why}`);
    }
  }
}

/** [oauth-out] The transports' authProvider of a backend with `oauth`, its tokens in data_dir (encrypted). */
function oauthProvider(config: BackendConfig, context: TransportContext, identity: string | undefined): AuthProvider | OAuthClientProvider | undefined {
  if (config.oauth === undefined) return undefined;
  if (context.dataDir === undefined)
    throw new GatewayError('INTERNAL', `Backend '${config.name}' has oauth but the connector was given no data_dir for its tokens`);
  const store = tokenStore(context.dataDir);
  // [oauth-out] token_exchange: the caller's exchanged token, or the gateway's own (backend-token-exchange.ts).
  if (config.oauth.grant === 'token_exchange') return exchangeAuthProvider(store, config.name, config.url ?? '', config.oauth, identity);
  // authorization_code: the SDK's OAuthClientProvider itself, so the transport also steps up on a 403 insufficient_scope.
  if (config.oauth.grant === 'authorization_code') {
    const fetchFn = loginTransportFetch(config.url ?? '', config.oauth, Object.keys(config.headers));
    return gatewayLoginProvider(store, config.name, config.url ?? '', config.oauth, fetchFn);
  }
  return backendAuthProvider(store, config.name, config.url ?? '', config.oauth);
}
