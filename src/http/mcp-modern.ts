import { createMcpHandler, isLegacyRequest, type McpHttpHandler } from '@modelcontextprotocol/server';
import type { CapClient } from '../auth/client-caps.js';
import { toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { toolOf } from '../mcp/named-view.js';
import { createSessionServer, type SessionServerSources } from '../mcp/session-server.js';
import { listenTaskRefusal } from '../mcp/task-extension.js';
import { sees, type View } from '../mcp/view.js';
import { ANONYMOUS } from '../pool/affinity-pool.js';
import { paramHeaderMismatch, paramHeaders } from '../router/param-headers.js';
import { serveTaskListen, taskListenFilter } from './listen-tasks.js';
import { feedListenStreams, holdListen, ViewBus } from './mcp-listen.js';

/*
 * The 2026-07-28 era of MCP on the gateway's MCP URLs. A modern request
 * carries its protocol version and client capabilities in its own `_meta`
 * and needs no session: the SDK's createMcpHandler answers it with a fresh
 * session server built for the request's view (what the URL, its query
 * string and the token may see), so any gateway behind a round-robin
 * balancer can take any modern request. 2025-era requests (initialize,
 * Mcp-Session-Id, GET/DELETE) keep the sessioned path of mcp-endpoint.ts;
 * the SDK's own classification (isLegacyRequest) decides which is which,
 * so the two can never disagree. The handler validates the envelope, the
 * MCP-Protocol-Version / Mcp-Method / Mcp-Name headers against the body,
 * and answers the spec's errors (-32020, -32021, -32022) itself.
 */

/** The modern leg: whether a request belongs to it, and its answer. */
export interface ModernMcp {
  /** True for a request the modern path answers (including its refusals); false for 2025-era traffic. */
  claims(request: Request, body: unknown): Promise<boolean>;
  /** Answers a modern request for `view`; `body` is the POST's parsed JSON; `client` holds its stream slots. */
  serve(request: Request, body: unknown, view: View, client: CapClient): Promise<Response>;
  close(): Promise<void>;
}

const VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';

/** Whether one JSON-RPC message claims the 2026-07-28 envelope (its `_meta` names a protocol version). */
function claimsEnvelope(message: unknown): boolean {
  if (message === null || typeof message !== 'object') return false;
  const meta = (message as { params?: { _meta?: unknown } }).params?._meta;
  return meta !== null && typeof meta === 'object' && VERSION_KEY in meta;
}

/** A JSON-RPC 2.0 request, notification or response, by its shape (not its params). */
function wellFormed(message: unknown): boolean {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return false;
  const { jsonrpc, method, id } = message as { jsonrpc?: unknown; method?: unknown; id?: unknown };
  if (jsonrpc !== '2.0') return false;
  if (method !== undefined) return typeof method === 'string';
  return (typeof id === 'string' || typeof id === 'number') && ('result' in message || 'error' in message);
}

/**
 * The envelope claim of a POST body, as the SDK's classification reads it:
 * `none` (well-formed 2025 traffic, unless a 2026-07-28 header says otherwise),
 * `request` (one claimed request other than initialize: the modern leg
 * answers it, refusals included), or `other` (initialize or a batch with a
 * claim, or a malformed message), which the SDK's isLegacyRequest decides. test/http/era-claim.test.ts
 * holds this against isLegacyRequest over a table of bodies and headers.
 */
export function envelopeClaim(body: unknown): 'none' | 'request' | 'other' {
  if (Array.isArray(body)) return body.length > 0 && body.every(wellFormed) && !body.some(claimsEnvelope) ? 'none' : 'other';
  // A malformed message is the SDK's to judge (it answers -32600, as JSON-RPC says).
  if (!wellFormed(body)) return 'other';
  if (!claimsEnvelope(body)) return 'none';
  const { method, id } = body as { method?: unknown; id?: unknown };
  return typeof method === 'string' && method !== 'initialize' && id !== undefined ? 'request' : 'other';
}

/** The method of a single JSON-RPC message body, else undefined. */
function methodOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const { method } = body as { method?: unknown };
  return typeof method === 'string' ? method : undefined;
}

/**
 * Calls `done` once a response is over: at once for a JSON answer (the
 * request has been served), at the end (or cancel) of an SSE stream.
 */
function whenOver(response: Response, done: () => void): Response {
  const body = response.body;
  if (body === null || !(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    done();
    return response;
  }
  const reader = body.getReader();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        done();
        controller.error(err);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
  return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * A gateway refusal of a modern request (a stream cap: RATE_LIMITED), in
 * the form a 2025 client over its cap gets — the error's HTTP status,
 * Retry-After, and `data.code` naming the gateway's error code — with the
 * JSON-RPC code of the 2026-07-28 era (refusalCode).
 */
function refusal(err: unknown, body: unknown): Response {
  const error = toGatewayError(err);
  const answer = rpcError(error.status, refusalCode('2026-07-28', error.status), `${error.code}: ${error.message}`, body, { code: error.code });
  if (error.retryAfter !== undefined) answer.headers.set('retry-after', String(error.retryAfter));
  return answer;
}

/** No parsed body (GET, DELETE, a body that is not JSON): 2025-era serving judges it. */
export const NO_BODY = Symbol('no body');

/** Whether an MCP-Protocol-Version names a revision of the 2026-07-28 era or later (they are dates, so they compare as text). */
export function isModernVersion(version: string | undefined): boolean {
  return version !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(version) && version >= '2026-07-28';
}

/** A JSON-RPC error answered by the gateway itself on the modern leg (the body's id echoed when it has one). */
function rpcError(status: number, code: number, message: string, body: unknown, data?: Record<string, unknown>): Response {
  const id = (body as { id?: unknown } | null)?.id;
  const echoed = typeof id === 'string' || typeof id === 'number' ? id : null;
  return Response.json({ jsonrpc: '2.0', error: { code, message, ...(data === undefined ? {} : { data }) }, id: echoed }, { status });
}

/** The byte size of a request's `params._meta` once serialised (0 without one). */
export function metaBytes(body: unknown): number {
  const meta = (body as { params?: { _meta?: unknown } } | null)?.params?._meta;
  return meta === undefined ? 0 : Buffer.byteLength(JSON.stringify(meta) ?? '');
}

/**
 * What is wrong with the `Mcp-Param-*` headers of a tools/call, or undefined
 * (not a tools/call, a tool the view does not show, no x-mcp-header). Runs
 * in the factory, after the SDK has checked the standard headers, the
 * envelope and the version: the body's name is the tool's.
 */
async function paramRefusal(gateway: SessionServerSources, view: View, body: unknown, headers: Headers): Promise<string | undefined> {
  const { method, params } = body as { method?: unknown; params?: { name?: unknown; arguments?: unknown } };
  if (method !== 'tools/call' || typeof params?.name !== 'string') return undefined;
  const name = params.name;
  const lookup = () => toolOf(gateway.catalog, view, name);
  let entry = lookup();
  if (entry === undefined) {
    await gateway.settled();
    entry = lookup();
  }
  if (entry === undefined || !sees(view, entry.server)) return undefined;
  return paramHeaderMismatch(paramHeaders(entry.inputSchema), params.arguments, headers);
}

/** Thrown by the factory to stop a request the gateway answers itself (the SDK answers it 500, which serve replaces). */
class Refused extends Error {}

/** What the factory of one modern request reads: its view and body; it leaves the Mcp-Param refusal here. */
interface RequestContext {
  view: View;
  body: unknown;
  refusal?: string;
}

/**
 * The JSON-RPC code of a refusal the gateway makes itself on an MCP route
 * (401, 403, 405, 429; the HTTP status and `data.code` say which), by the
 * request's MCP-Protocol-Version (only the code's choice hangs on it, no
 * decision). 2025-era clients keep -32000: their revision allows it and they
 * have always got it. The 2026-07-28 revision leaves -32000…-32019 to legacy
 * use (basic §Error Codes: new implementations SHOULD NOT use them) and
 * answers general failures with the standard JSON-RPC codes: -32603 when the
 * gateway cannot take the request now (429, as the SDK's own subscription
 * limit answers), -32600 when it refuses the request as sent.
 */
export function refusalCode(version: string | undefined, status: number): number {
  if (!isModernVersion(version)) return -32000;
  return status === 429 ? -32603 : -32600;
}

/**
 * Makes `view` the view of one 2026-07-28 request (here and on the lean path,
 * mcp-lean.ts). No session: a backend with affinity = "session" keys the
 * request on its token, and refuses it without one. Its `leave` once the
 * answer is out (undefined without a token).
 */
export function enterModern(gateway: Pick<SessionServerSources, 'sessions'>, view: View): { leave(): void } | undefined {
  const principal = view.owner === undefined ? undefined : gateway.sessions.enterPrincipal(view.owner);
  view.session = principal?.ref ?? ANONYMOUS;
  view.modern = true;
  return principal;
}

export function modernMcp(gateway: SessionServerSources, logger: Logger): ModernMcp {
  // The factory gets the very Request handed to fetch (requestInfo), so the
  // view the route computed (and the parsed body) travels with it.
  const requests = new WeakMap<Request, RequestContext>();
  const maxMeta = gateway.config.gateway.max_meta_bytes;
  const onerror = (error: Error): void => logger.debug({ error: error.message }, 'mcp (2026-07-28) request refused or failed');
  const bus = new ViewBus(onerror);
  const handler: McpHttpHandler = createMcpHandler(
    async ({ requestInfo }) => {
      const context = requestInfo === undefined ? undefined : requests.get(requestInfo);
      if (context === undefined || requestInfo === undefined) throw new Error('stonegate: a modern MCP request reached the handler without its view');
      context.refusal = await paramRefusal(gateway, context.view, context.body, requestInfo.headers);
      if (context.refusal !== undefined) throw new Refused(context.refusal);
      // The SDK has checked Mcp-Method against the body: the server answers that one method.
      return createSessionServer(gateway, context.view, 'modern', methodOf(context.body));
    },
    {
      legacy: 'reject',
      onerror,
      bus,
      // The stream caps (holdListen) refuse first, with the gateway's own answer; this is the SDK's backstop.
      maxSubscriptions: gateway.security.caps.limits.streams,
    },
  );
  // A backend's list_changed and resources/updated reach 2026-07-28 clients on their subscriptions/listen
  // streams whose view shows the backend (the SDK's listen router acknowledges, filters and tags them).
  feedListenStreams(gateway, bus);
  return {
    async claims(request, body) {
      if (body === NO_BODY) return false;
      const claim = envelopeClaim(body);
      // Most traffic is decided here without the SDK classifying (and validating) the body twice.
      if (claim === 'none' && !isModernVersion(request.headers.get('mcp-protocol-version') ?? undefined)) return false;
      if (claim === 'request') return true;
      // The rest (initialize or a batch with a claim, a 2026 header on a 2025-style body): the SDK decides.
      return !(await isLegacyRequest(request, body));
    },
    async serve(request, body, view, client) {
      // A _meta past the limit is refused before the SDK parses and validates it. Parsed JSON serialises
      // to at most 6× its text (a number such as 1e20 grows from 4 characters to 21; nothing grows more),
      // so a body of a declared length that small cannot carry one, and its _meta is not serialised to measure it.
      const declared = Number(request.headers.get('content-length') ?? Number.NaN);
      const size = declared * 6 <= maxMeta ? 0 : metaBytes(body);
      if (size > maxMeta) {
        return rpcError(400, -32602, `Invalid params: _meta is ${size} bytes, over the ${maxMeta}-byte limit ([gateway] max_meta_bytes)`, body, {
          limit: maxMeta,
          size,
        });
      }
      const method = methodOf(body);
      // [mcp-ext] Task status on a listen stream needs the Tasks extension declared (task-extension.ts).
      const taskRefusal = method === 'subscriptions/listen' ? listenTaskRefusal(body) : undefined;
      if (taskRefusal !== undefined) return rpcError(200, -32021, taskRefusal.message, body, taskRefusal.data);
      // A listen stream takes a stream slot (over a cap: 429, as for a 2025 client) and its backend subscriptions first.
      let listening: (() => void) | undefined;
      if (method === 'subscriptions/listen') {
        try {
          listening = await holdListen(gateway, client, body, view, request.signal, bus);
        } catch (err) {
          return refusal(err, body);
        }
      }
      const principal = enterModern(gateway, view);
      const context: RequestContext = { view, body };
      requests.set(request, context);
      const over = (): void => {
        principal?.leave();
        listening?.();
      };
      try {
        // [mcp-ext] A listen stream that watches tasks is served by the gateway (listen-tasks.ts): the SDK's knows four events.
        const tasks = listening === undefined ? undefined : taskListenFilter(body);
        if (tasks !== undefined) return whenOver(await serveTaskListen(gateway, bus, view, (body as { id: string | number }).id, tasks, request.signal), over);
        // The scope tells the bus which view a listen stream registered from this request has.
        const fetched = () => handler.fetch(request, { parsedBody: body });
        const response = await (listening === undefined ? fetched() : bus.scope.run(view, fetched));
        if (context.refusal !== undefined) {
          await response.body?.cancel();
          over();
          return rpcError(400, -32020, `Bad Request: the request headers and body disagree: ${context.refusal}`, body);
        }
        return principal === undefined && listening === undefined ? response : whenOver(response, over);
      } catch (err) {
        over();
        throw err;
      }
    },
    close: () => handler.close(),
  };
}
