import type { Context, MiddlewareHandler } from 'hono';
import { checkDeclaredIdentity, withFilledIdentity } from '../auth/acting-as.js';
import { isOAuthIdentity, type OAuthVerifier } from '../auth/oauth.js';
import { type Identity, mayUse } from '../auth/tokens.js';
import type { ActingAsDeclaration } from '../builtins/builtin-backend.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { GatewaySurface } from '../mcp/surface.js';
import { jsonDepth } from './body.js';
import { refusalCode } from './mcp-modern.js';
import { challenge, requestIdentity } from './oauth-metadata.js';
import { originCheck } from './origin-guard.js';
import { type Role, routeIsProbe, routeRole } from './route-role.js';

/** What this module reads and calls of the gateway. */
export type GuardSources = Pick<GatewaySurface, 'config' | 'security' | 'builtins'>;

declare module 'hono' {
  interface ContextVariableMap {
    /** The request's token, when [auth] has tokens. */
    identity: Identity | undefined;
    /** The role the request's route declares (undefined: none, so admin-only). */
    routeRole: Role | undefined;
  }
}

/**
 * Which surface a path belongs to, for what the guard checks besides the
 * route's role (route-role.ts): the MCP endpoints answer refusals in
 * JSON-RPC and check their own Content-Type; a built-in backend's routes
 * (/<name>/…) need a token that may use that backend; /metrics one that
 * sees every backend.
 */
export type RouteSurface = 'mcp' | 'builtin' | 'metrics' | 'rest';

/** The surface of a request's path, given the names of the mounted built-ins. */
export function routeSurface(path: string, builtins: ReadonlySet<string> = new Set()): RouteSurface {
  if (path === '/' || path === '/mcp' || path.startsWith('/mcp/') || path === '/sse' || path === '/messages') return 'mcp';
  // [[views]] /views/NAME/mcp
  if (/^\/views\/[^/]+\/mcp$/.test(path)) return 'mcp';
  if (path === '/metrics') return 'metrics';
  if (builtins.has(path.split('/')[1] ?? '')) return 'builtin';
  return 'rest';
}

/** Whether a Content-Type is JSON (application/json or application/*+json, any parameters). */
export function isJson(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/**
 * Whether a POST body is taken as JSON: sent as JSON, or as
 * application/x-www-form-urlencoded — what `curl -d '{…}'` sends without
 * -H — by a client that is not a browser. A browser sends Origin on every
 * POST, same-site or cross-site (and Sec-Fetch-Site with it), so a form a
 * web page submits, the one cross-site POST that needs no CORS preflight,
 * always carries one of them and is still refused with 415: the CSRF
 * protection stays whole. The MCP endpoints keep the transport's own rule.
 */
export function sendsJson(c: Context): boolean {
  const contentType = c.req.header('content-type');
  if (isJson(contentType)) return true;
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded' && c.req.header('origin') === undefined && c.req.header('sec-fetch-site') === undefined;
}

/** The refusal of a guard: `{error, code}` on REST, a JSON-RPC error on the MCP routes. */
function deny(c: Context, kind: RouteSurface, error: GatewayError, oauth?: OAuthVerifier): Response {
  const headers: Record<string, string> = {};
  const bearer = challenge(oauth, error, c.req.header('authorization') !== undefined);
  if (bearer !== undefined) headers['WWW-Authenticate'] = bearer;
  if (error.retryAfter !== undefined) headers['Retry-After'] = String(error.retryAfter);
  const body =
    kind === 'mcp'
      ? {
          jsonrpc: '2.0',
          error: {
            code: refusalCode(c.req.header('mcp-protocol-version'), error.status),
            message: `${error.code}: ${error.message}`,
            data: { code: error.code },
          },
          id: null,
        }
      : error.toJSON();
  return c.json(body, error.status as 400, headers);
}

/** The backend a /mcp/{server} path names (percent-decoded as the route's parameter is), else undefined. */
function backendOfPath(path: string): string | undefined {
  const raw = /^\/mcp\/([^/]+)$/.exec(path)?.[1];
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined; // the route answers it
  }
}

/**
 * The front door's guard, before anything reads a body: the route's
 * declared role first (route-role.ts) — a public route passes untouched,
 * a probe (public too) after the Host/Origin check;
 * then Host and Origin, then — when [auth] has tokens — the bearer token
 * (401 UNAUTHORIZED with WWW-Authenticate), the token's request rate (429
 * RATE_LIMITED with Retry-After), admin routes and routes that declare no
 * role for admin tokens only (default deny), /metrics for tokens that see
 * every backend, /coord for tokens that may use it; then POST bodies must
 * be JSON (415), so no cross-site form post reaches a route (sendsJson:
 * curl's default type passes when no browser sent it). (The MCP endpoints'
 * transport answers 415 in JSON-RPC itself.)
 */
export function securityGuard(gateway: GuardSources): MiddlewareHandler {
  const { security } = gateway;
  const { limiter, oauth } = security;
  const origin = originCheck(gateway.config);
  const builtins = new Set(gateway.builtins.map((b) => b.name));
  return async (c, next) => {
    const declared = routeRole(c);
    c.set('routeRole', declared);
    // A probe (/livez, /readyz) is public but keeps the Host/Origin check.
    const probing = declared === 'public' && routeIsProbe(c);
    if (declared === 'public' && !probing) return next();
    const kind = routeSurface(c.req.path, builtins);
    const problem = origin(c);
    if (problem !== undefined) return deny(c, kind, new GatewayError('FORBIDDEN', problem));
    if (probing) return next();
    if (security.enabled) {
      let identity: Identity | undefined;
      try {
        identity = await requestIdentity(security, c.req.header('authorization'));
      } catch (err) {
        return deny(c, kind, toGatewayError(err), oauth);
      }
      if (identity === undefined) {
        const why = c.req.header('authorization') === undefined ? 'This route needs a bearer token' : 'The bearer token is not valid';
        const from = oauth === undefined ? '' : ` or an access token of ${oauth.issuer} (the resource_metadata of WWW-Authenticate says how)`;
        return deny(c, kind, new GatewayError('UNAUTHORIZED', `${why}: send Authorization: Bearer <token> with a token configured in [auth]${from}`), oauth);
      }
      c.set('identity', identity);
      try {
        limiter.take(identity);
      } catch (err) {
        return deny(c, kind, toGatewayError(err));
      }
      if (declared !== 'agent' && identity.role !== 'admin') {
        const why = declared === 'admin' ? 'needs an admin token' : 'declares no role, so only an admin token may use it';
        // An OAuth token is told the scope that would make it an admin (403 insufficient_scope).
        const details = isOAuthIdentity(identity) && oauth !== undefined ? { details: { required_scope: oauth.adminScope } } : {};
        const refusal = new GatewayError('FORBIDDEN', `${c.req.method} ${c.req.path} ${why}; token '${identity.name}' has role agent`, details);
        return deny(c, kind, refusal, oauth);
      }
      if (kind === 'metrics' && identity.servers !== undefined) {
        return deny(
          c,
          kind,
          new GatewayError('FORBIDDEN', `GET /metrics shows every backend; token '${identity.name}' is limited to some — use a token without a servers list`),
        );
      }
      const builtin = c.req.path.split('/')[1] ?? '';
      if (kind === 'builtin' && !mayUse(identity, builtin)) {
        return deny(
          c,
          kind,
          new GatewayError('FORBIDDEN', `Token '${identity.name}' may not use the built-in backend '${builtin}'; add '${builtin}' to its servers`),
        );
      }
    }
    // /mcp/{server} with a token that may not use that backend: refused here, before its body is read
    // (the route checks again; this only answers earlier). It hangs on the URL and the token, no header.
    const single = kind === 'mcp' ? backendOfPath(c.req.path) : undefined;
    if (single !== undefined && !mayUse(c.get('identity'), single)) {
      try {
        assertMayUse(c, single);
      } catch (err) {
        return deny(c, kind, toGatewayError(err));
      }
    }
    const transportChecks = kind === 'mcp' && c.req.path !== '/messages';
    if (c.req.method === 'POST' && !transportChecks && !sendsJson(c)) {
      const browser =
        c.req.header('origin') !== undefined || c.req.header('sec-fetch-site') !== undefined ? ' (from a browser, only application/json is taken)' : '';
      return deny(
        c,
        kind,
        new GatewayError(
          'UNSUPPORTED_MEDIA_TYPE',
          `POST bodies must be JSON: send Content-Type: application/json (got '${(c.req.header('content-type') ?? 'none').slice(0, 100)}')${browser}`,
        ),
      );
    }
    await next();
    return undefined;
  };
}

/**
 * Reads a POST body once, within [gateway] max_body_bytes, and refuses JSON
 * nested deeper than [gateway] max_json_depth before any parser or
 * validator walks it (BAD_REQUEST; on MCP a JSON-RPC -32600). A declared
 * Content-Length over the limit is refused before a byte is read; a chunked
 * body is counted as it streams and cut at the limit (PAYLOAD_TOO_LARGE).
 *
 * The text stays in Hono's body cache, so every later reader (routes,
 * guards, the MCP endpoint) gets it without reading again. Reading it with
 * `c.req.text()` keeps @hono/node-server on its fast path, which reads the
 * Node request directly; touching `c.req.raw.body` instead would make it
 * build a full web Request (stream, AbortSignal, headers list) per call.
 */
export function bodyGuard(gateway: GuardSources): MiddlewareHandler {
  const { max_body_bytes: maxBytes, max_json_depth: maxDepth } = gateway.config.gateway;
  const tooLarge = (): GatewayError => new GatewayError('PAYLOAD_TOO_LARGE', `Request body is over the ${maxBytes}-byte limit ([gateway] max_body_bytes)`);
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const length = c.req.header('content-length');
    if (length !== undefined) {
      if (Number(length) > maxBytes) throw tooLarge();
    } else if (c.req.header('transfer-encoding') !== undefined) {
      // Hono's cache holds the body's promise (its type says otherwise).
      (c.req.bodyCache as Record<string, unknown>).text = readCapped(c.req.raw, maxBytes, tooLarge);
    }
    let text: string;
    try {
      text = await c.req.text();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('BAD_REQUEST', `Could not read the request body: ${(err as Error).message}`);
    }
    if (sendsJson(c) && jsonDepth(text, maxDepth) > maxDepth) {
      const error = new GatewayError('BAD_REQUEST', `The JSON body is nested deeper than ${maxDepth} levels ([gateway] max_json_depth)`);
      if (routeSurface(c.req.path) !== 'mcp') throw error;
      return c.json({ jsonrpc: '2.0', error: { code: -32600, message: `Invalid Request: ${error.message}`, data: { code: error.code } }, id: null }, 400);
    }
    await next();
    return undefined;
  };
}

/** A streamed body without Content-Length, counted as it arrives and refused past `max` bytes. */
async function readCapped(request: Request, max: number, tooLarge: () => GatewayError): Promise<string> {
  if (request.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A built-in's routes with auth on (coord's /coord): an agent token acts
 * only as itself — the identity fields its declaration names, in a POST
 * body or a query, must be its name; the routes it declares self-only need
 * that field; and its event stream shows what the agent may see (the
 * viewer variable its routes read, `viewerVariable`). A request that passes
 * counts as the agent's activity (`activity`), even one that names no agent.
 */
export function actingAsGuard(declaration: ActingAsDeclaration, activity?: (agent: string) => Promise<void>): MiddlewareHandler {
  return async (c, next) => {
    const identity = c.get('identity');
    if (identity === undefined || identity.role === 'admin') return next();
    const what = `${c.req.method} ${c.req.path}`;
    const query = c.req.query();
    checkDeclaredIdentity(identity, query, what, declaration, c.req.path);
    if (declaration.viewerVariable !== undefined) (c.set as (key: string, value: unknown) => void)(declaration.viewerVariable, identity.name);
    if (c.req.method === 'POST' && sendsJson(c)) {
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch {
        body = undefined; // the route answers its own BAD_REQUEST
      }
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
        checkDeclaredIdentity(identity, body as Record<string, unknown>, what, declaration, '');
        // The route reads the body this guard already read (Hono caches it): a filled body replaces it there.
        const filled = withFilledIdentity(identity, body as Record<string, unknown>, declaration, c.req.path);
        // Hono keeps the promises of body reads in bodyCache (typed as the values).
        if (filled !== undefined) c.req.bodyCache = { text: Promise.resolve(JSON.stringify(filled)) as unknown as string };
      }
    }
    // An agent token's request, whatever it names, is its agent's activity.
    await activity?.(identity.name);
    await next();
    return undefined;
  };
}

/** The token's backend list (undefined: every backend, or auth off). */
export function scopeOf(c: Context): ReadonlySet<string> | undefined {
  return c.get('identity')?.servers;
}

/** FORBIDDEN when the request's token may not use the backend. */
export function assertMayUse(c: Context, server: string): void {
  const identity = c.get('identity');
  if (!mayUse(identity, server)) {
    throw new GatewayError(
      'FORBIDDEN',
      `Token '${identity?.name ?? ''}' may not use backend '${server}'; it is limited to: ${[...(identity?.servers ?? [])].join(', ')}`,
    );
  }
}
