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
import { type GuardRequest, originCheck } from './origin-guard.js';
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
export function sendsJson(req: GuardRequest): boolean {
  const contentType = req.header('content-type');
  if (isJson(contentType)) return true;
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded' && req.header('origin') === undefined && req.header('sec-fetch-site') === undefined;
}

/** A guard's refusal: the error, the surface it is answered on, and the OAuth verifier whose challenge goes with a 401/403. */
export interface Refusal {
  kind: RouteSurface;
  error: GatewayError;
  oauth?: OAuthVerifier;
}

/** An answer the front door writes itself: status, headers and a JSON body. */
export interface PlainAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The answer to a refusal: `{error, code}` on REST, a JSON-RPC error on the MCP routes. */
export function refusalAnswer(req: GuardRequest, { kind, error, oauth }: Refusal): PlainAnswer {
  const headers: Record<string, string> = {};
  const bearer = challenge(oauth, error, req.header('authorization') !== undefined);
  if (bearer !== undefined) headers['WWW-Authenticate'] = bearer;
  if (error.retryAfter !== undefined) headers['Retry-After'] = String(error.retryAfter);
  const body =
    kind === 'mcp'
      ? {
          jsonrpc: '2.0',
          error: {
            code: refusalCode(req.header('mcp-protocol-version'), error.status),
            message: `${error.code}: ${error.message}`,
            data: { code: error.code },
          },
          id: null,
        }
      : error.toJSON();
  return { status: error.status, headers, body };
}

function deny(c: Context, refusal: Refusal): Response {
  const { status, headers, body } = refusalAnswer(c.req, refusal);
  return c.json(body, status as 400, headers);
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

/** The guard's verdict on a request: refused, or let through with its token (undefined: auth off, or a public route). */
export type Verdict = { refused: Refusal } | { refused?: undefined; identity: Identity | undefined };

/**
 * The checks of the front door's guard, on any request (a Hono request, or
 * the hot path's Node request — hot-routes.ts): the same function decides for
 * both. `declared` is the role of the route the request reaches, `probing`
 * whether that route is a probe.
 */
export function requestGuard(gateway: GuardSources): (req: GuardRequest, declared: Role | undefined, probing: boolean) => Promise<Verdict> {
  const { security } = gateway;
  const { limiter, oauth } = security;
  const origin = originCheck(gateway.config);
  const builtins = new Set(gateway.builtins.map((b) => b.name));
  const passed: Verdict = { identity: undefined };
  return async (req, declared, probing) => {
    if (declared === 'public' && !probing) return passed;
    const kind = routeSurface(req.path, builtins);
    const refuse = (error: GatewayError, withOAuth?: OAuthVerifier): Verdict => ({
      refused: { kind, error, ...(withOAuth === undefined ? {} : { oauth: withOAuth }) },
    });
    const problem = origin(req);
    if (problem !== undefined) return refuse(new GatewayError('FORBIDDEN', problem));
    if (probing) return passed;
    let identity: Identity | undefined;
    if (security.enabled) {
      try {
        identity = await requestIdentity(security, req.header('authorization'));
      } catch (err) {
        return refuse(toGatewayError(err), oauth);
      }
      if (identity === undefined) {
        const why = req.header('authorization') === undefined ? 'This route needs a bearer token' : 'The bearer token is not valid';
        const from = oauth === undefined ? '' : ` or an access token of ${oauth.issuer} (the resource_metadata of WWW-Authenticate says how)`;
        return refuse(new GatewayError('UNAUTHORIZED', `${why}: send Authorization: Bearer <token> with a token configured in [auth]${from}`), oauth);
      }
      try {
        limiter.take(identity);
      } catch (err) {
        return refuse(toGatewayError(err));
      }
      if (declared !== 'agent' && identity.role !== 'admin') {
        const why = declared === 'admin' ? 'needs an admin token' : 'declares no role, so only an admin token may use it';
        // An OAuth token is told the scope that would make it an admin (403 insufficient_scope).
        const details = isOAuthIdentity(identity) && oauth !== undefined ? { details: { required_scope: oauth.adminScope } } : {};
        return refuse(new GatewayError('FORBIDDEN', `${req.method} ${req.path} ${why}; token '${identity.name}' has role agent`, details), oauth);
      }
      if (kind === 'metrics' && identity.servers !== undefined) {
        return refuse(
          new GatewayError('FORBIDDEN', `GET /metrics shows every backend; token '${identity.name}' is limited to some — use a token without a servers list`),
        );
      }
      const builtin = req.path.split('/')[1] ?? '';
      if (kind === 'builtin' && !mayUse(identity, builtin)) {
        return refuse(new GatewayError('FORBIDDEN', `Token '${identity.name}' may not use the built-in backend '${builtin}'; add '${builtin}' to its servers`));
      }
    }
    // /mcp/{server} with a token that may not use that backend: refused here, before its body is read
    // (the route checks again; this only answers earlier). It hangs on the URL and the token, no header.
    const single = kind === 'mcp' ? backendOfPath(req.path) : undefined;
    if (single !== undefined && !mayUse(identity, single)) return refuse(mayNotUse(identity, single));
    const transportChecks = kind === 'mcp' && req.path !== '/messages';
    if (req.method === 'POST' && !transportChecks && !sendsJson(req)) {
      const browser =
        req.header('origin') !== undefined || req.header('sec-fetch-site') !== undefined ? ' (from a browser, only application/json is taken)' : '';
      return refuse(
        new GatewayError(
          'UNSUPPORTED_MEDIA_TYPE',
          `POST bodies must be JSON: send Content-Type: application/json (got '${(req.header('content-type') ?? 'none').slice(0, 100)}')${browser}`,
        ),
      );
    }
    return { identity };
  };
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
 * transport answers 415 in JSON-RPC itself.) The checks are requestGuard's.
 */
export function securityGuard(gateway: GuardSources): MiddlewareHandler {
  const guard = requestGuard(gateway);
  return async (c, next) => {
    const declared = routeRole(c);
    c.set('routeRole', declared);
    // A probe (/livez, /readyz) is public but keeps the Host/Origin check.
    const verdict = await guard(c.req, declared, declared === 'public' && routeIsProbe(c));
    if (verdict.refused !== undefined) return deny(c, verdict.refused);
    if (verdict.identity !== undefined) c.set('identity', verdict.identity);
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
  const limits = bodyLimits(gateway);
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const length = c.req.header('content-length');
    if (length !== undefined) {
      limits.checkLength(length);
    } else if (c.req.header('transfer-encoding') !== undefined) {
      // Hono's cache holds the body's promise (its type says otherwise).
      (c.req.bodyCache as Record<string, unknown>).text = readCapped(c.req.raw, limits.maxBytes, limits.tooLarge);
    }
    let text: string;
    try {
      text = await c.req.text();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('BAD_REQUEST', `Could not read the request body: ${(err as Error).message}`);
    }
    const deep = limits.tooDeep(c.req, text);
    if (deep !== undefined) return c.json(deep.body, 400);
    await next();
    return undefined;
  };
}

/** The body limits of [gateway], as the body guard and the hot path (hot-routes.ts) both apply them. */
export interface BodyLimits {
  maxBytes: number;
  tooLarge(): GatewayError;
  /** Throws PAYLOAD_TOO_LARGE when a declared Content-Length is over the limit. */
  checkLength(length: string): void;
  /** A JSON body nested too deep: thrown as BAD_REQUEST on REST, answered as a JSON-RPC -32600 on MCP; undefined when it is not. */
  tooDeep(req: GuardRequest, text: string): PlainAnswer | undefined;
}

export function bodyLimits(gateway: GuardSources): BodyLimits {
  const { max_body_bytes: maxBytes, max_json_depth: maxDepth } = gateway.config.gateway;
  const tooLarge = (): GatewayError => new GatewayError('PAYLOAD_TOO_LARGE', `Request body is over the ${maxBytes}-byte limit ([gateway] max_body_bytes)`);
  return {
    maxBytes,
    tooLarge,
    checkLength(length) {
      if (Number(length) > maxBytes) throw tooLarge();
    },
    tooDeep(req, text) {
      if (!sendsJson(req) || jsonDepth(text, maxDepth) <= maxDepth) return undefined;
      const error = new GatewayError('BAD_REQUEST', `The JSON body is nested deeper than ${maxDepth} levels ([gateway] max_json_depth)`);
      if (routeSurface(req.path) !== 'mcp') throw error;
      const body = { jsonrpc: '2.0', error: { code: -32600, message: `Invalid Request: ${error.message}`, data: { code: error.code } }, id: null };
      return { status: 400, headers: {}, body };
    },
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
    if (c.req.method === 'POST' && sendsJson(c.req)) {
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
  assertIdentityMayUse(c.get('identity'), server);
}

/** FORBIDDEN when `identity` may not use the backend. */
export function assertIdentityMayUse(identity: Identity | undefined, server: string): void {
  if (!mayUse(identity, server)) throw mayNotUse(identity, server);
}

/** The FORBIDDEN of a token that may not use a backend. */
function mayNotUse(identity: Identity | undefined, server: string): GatewayError {
  return new GatewayError(
    'FORBIDDEN',
    `Token '${identity?.name ?? ''}' may not use backend '${server}'; it is limited to: ${[...(identity?.servers ?? [])].join(', ')}`,
  );
}
