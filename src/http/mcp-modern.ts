import { createMcpHandler, isLegacyRequest, type McpHttpHandler } from '@modelcontextprotocol/server';
import type { CapClient } from '../auth/client-caps.js';
import { toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { createSessionServer, type SessionServerSources } from '../mcp/session-server.js';
import type { View } from '../mcp/view.js';
import { ANONYMOUS } from '../pool/affinity-pool.js';
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

/** Methods every view answers (or the SDK answers before the server): their answers are passed on unread. */
const ALWAYS_ANSWERED = new Set(['tools/call', 'tools/list', 'server/discover', 'subscriptions/listen']);

/** The method of a single JSON-RPC request body, else undefined. */
function requestMethod(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const { method, id } = body as { method?: unknown; id?: unknown };
  return typeof method === 'string' && id !== undefined ? method : undefined;
}

/**
 * The 2026-07-28 era answers a method the server does not have with HTTP
 * 404 and -32601. The SDK does so for methods outside the era; a method the
 * session server routes through its fallback handler (and refuses there)
 * comes back as a 200 answer, so that one is rewritten here. Only requests
 * for methods outside ALWAYS_ANSWERED are looked at.
 */
async function notFoundAs404(response: Response): Promise<Response> {
  if (response.status !== 200 || !(response.headers.get('content-type') ?? '').includes('application/json')) return response;
  const text = await response.text();
  let code: unknown;
  try {
    code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
  } catch {
    code = undefined;
  }
  return new Response(text, { status: code === -32601 ? 404 : 200, headers: response.headers });
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
 * the form a 2025 client over its cap gets: the error's HTTP status,
 * Retry-After, and `data.code` naming the gateway's error code.
 */
function refusal(err: unknown, id: unknown): Response {
  const error = toGatewayError(err);
  const headers: Record<string, string> = error.retryAfter === undefined ? {} : { 'retry-after': String(error.retryAfter) };
  const body = { jsonrpc: '2.0', error: { code: -32000, message: `${error.code}: ${error.message}`, data: { code: error.code } }, id: id ?? null };
  return Response.json(body, { status: error.status, headers });
}

/** No parsed body (GET, DELETE, a body that is not JSON): 2025-era serving judges it. */
export const NO_BODY = Symbol('no body');

/** Whether an MCP-Protocol-Version names a revision of the 2026-07-28 era or later (they are dates, so they compare as text). */
export function isModernVersion(version: string | undefined): boolean {
  return version !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(version) && version >= '2026-07-28';
}

export function modernMcp(gateway: SessionServerSources, logger: Logger): ModernMcp {
  // The factory gets the very Request handed to fetch (requestInfo), so the
  // view the route computed travels with it.
  const views = new WeakMap<Request, View>();
  const onerror = (error: Error): void => logger.debug({ error: error.message }, 'mcp (2026-07-28) request refused or failed');
  const bus = new ViewBus(onerror);
  const handler: McpHttpHandler = createMcpHandler(
    ({ requestInfo }) => {
      const view = requestInfo === undefined ? undefined : views.get(requestInfo);
      if (view === undefined) throw new Error('stonegate: a modern MCP request reached the handler without its view');
      return createSessionServer(gateway, view, 'modern');
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
      const method = requestMethod(body);
      // A listen stream takes a stream slot (over a cap: the 429 a 2025 client gets) and its backend subscriptions first.
      let listening: (() => void) | undefined;
      if (method === 'subscriptions/listen') {
        try {
          listening = await holdListen(gateway, client, body, view, request.signal);
        } catch (err) {
          return refusal(err, (body as { id?: unknown }).id);
        }
      }
      // No session: a backend with affinity = "session" keys the request on its token, and refuses it without one.
      const principal = view.owner === undefined ? undefined : gateway.sessions.enterPrincipal(view.owner);
      view.session = principal?.ref ?? ANONYMOUS;
      view.modern = true;
      views.set(request, view);
      const over = (): void => {
        principal?.leave();
        listening?.();
      };
      try {
        // The scope tells the bus which view a listen stream registered from this request has.
        const response = await bus.scope.run(view, () => handler.fetch(request, { parsedBody: body }));
        const answer = method === undefined || ALWAYS_ANSWERED.has(method) ? response : await notFoundAs404(response);
        return principal === undefined && listening === undefined ? answer : whenOver(answer, over);
      } catch (err) {
        over();
        throw err;
      }
    },
    close: () => handler.close(),
  };
}
