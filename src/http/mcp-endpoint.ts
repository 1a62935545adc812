import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { RequestId, Server } from '@modelcontextprotocol/server';
import { type Context, Hono } from 'hono';
import { cancelWhenClosed, cancelWhenGone } from '../../kit/cancel-when-gone.js';
import type { CapClient } from '../auth/client-caps.js';
import { type Identity, mayUse } from '../auth/tokens.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { createSessionServer, type SessionServerSources, serverInfoOf } from '../mcp/session-server.js';
import type { GatewaySurface } from '../mcp/surface.js';
import { type ToolCallHandler, toolCallHandler } from '../mcp/tool-call.js';
import { type View, viewFrom } from '../mcp/view.js';
import { capClient } from './client-slots.js';
import { MemoryEventStore } from './event-store.js';
import { legacySseRoutes } from './legacy-sse.js';
import {
  countLeanCalls,
  envelopePeer,
  type LeanAnswer,
  type LeanEra,
  type LeanPost,
  plainCall,
  plainLegacy,
  plainModern,
  plainModernTool,
  requestControllersOf,
  runLean,
} from './mcp-lean.js';
import { type LeanAsker, leanAsks } from './mcp-lean-sse.js';
import { enterModern, isModernVersion, metaBytes, modernMcp, NO_BODY, refusalCode } from './mcp-modern.js';
import { GatewayHttpTransport } from './mcp-transport.js';
import { role } from './route-role.js';
import { assertIdentityMayUse, isJson } from './security.js';

/** What this module reads and calls of the gateway. */
export type McpEndpointSources = SessionServerSources & Pick<GatewaySurface, 'onStop'> & Partial<Pick<GatewaySurface, 'metrics'>>;

interface HttpSession {
  server: Server;
  transport: GatewayHttpTransport;
  view: View;
  /** [speed] Its tools/call handler on the lean path (mcp-lean.ts), made on the first lean call. */
  lean?: ToolCallHandler;
  /** The endpoint the session was opened on; its id is not valid on another. */
  endpoint: string;
  /** The token that opened it (auth on): only that token may use the session id. */
  owner: string | undefined;
  lastSeen: number;
}

/** JSON-RPC error body for requests the transport never sees. */
function rpcError(status: 400 | 403 | 404 | 405, code: number, message: string, headers?: Record<string, string>): Response {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status, ...(headers === undefined ? {} : { headers }) });
}

/**
 * What the endpoint reads of a request: built from the route's context
 * (fromContext), or by the hot path from the Node request (hot-routes.ts),
 * after the same guards.
 */
export interface McpRequest {
  /** The web request the SDK transport reads (method, headers, signal). */
  raw: Request;
  method: string;
  header(name: string): string | undefined;
  identity: Identity | undefined;
  /** The Node response, when there is one: its closing early cancels the POST's requests. */
  outgoing: ServerResponse | undefined;
  /** Whom the request's stream and session slots count for. */
  client(): CapClient;
  /** The query string ([[views]] ?view=, ?expose=). */
  query(): URLSearchParams;
  /** The POST's parsed JSON body, or NO_BODY. */
  body: unknown;
}

/** The MCP endpoints: their Hono routes, and the answers of /mcp and /mcp/{server} for the hot path (hot-routes.ts). */
export interface McpEndpoint {
  routes: Hono;
  handle: McpHandle;
  handleServer(req: McpRequest, server: string): Promise<Response>;
  /** [speed] A plain tools/call POST on /mcp (`single` undefined) or /mcp/{single} answered on the lean path, else undefined (mcp-lean.ts). */
  lean(post: LeanPost, identity: Identity | undefined, single: string | undefined): Promise<LeanAnswer | undefined> | undefined;
}

/** The endpoint's answer to a request on one of its URLs: `endpoint` the URL, `single` its backend (/mcp/{server}), `pathView` its view. */
export type McpHandle = (req: McpRequest, endpoint: string, single?: string, pathView?: string) => Promise<Response>;

const NO_QUERY = new URLSearchParams();

/** No body: GET, DELETE, or a body the transport must judge itself (not JSON, unparsable). */
const UNPARSED = NO_BODY;

/**
 * A POST's JSON body, parsed from the text the body guard has already read
 * (so the SDK transport does not read the request again). Anything else is
 * left to the transport, which answers it the way the spec says (406, 415,
 * -32700) in its own order.
 */
async function parsedBody(c: Context): Promise<unknown> {
  if (c.req.method !== 'POST' || !isJson(c.req.header('content-type'))) return UNPARSED;
  return parseJsonBody(await c.req.text());
}

/** A POST body's JSON, or NO_BODY when it does not parse (the transport answers it). */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return UNPARSED;
  }
}

/** The McpRequest of a route's context (the body read from the body guard's cache). */
async function fromContext(c: Context): Promise<McpRequest> {
  return {
    raw: c.req.raw,
    method: c.req.method,
    header: (name) => c.req.header(name),
    identity: c.get('identity'),
    outgoing: (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing,
    client: () => capClient(c),
    query: () => new URL(c.req.url).searchParams,
    body: await parsedBody(c),
  };
}

/**
 * Hands a request to a session's transport, with its parsed body when there
 * is one. The requests of a POST whose client goes away before the answer
 * are cancelled (cancelWhenGone): the router then cancels the backend call,
 * so a long poll ends without taking a message for nobody.
 */
async function dispatch(req: McpRequest, transport: GatewayHttpTransport, logger: Logger): Promise<Response> {
  const { body } = req;
  if (body === UNPARSED) return transport.handleRequest(req.raw);
  const onCancel = (id: RequestId): void =>
    logger.debug({ session: transport.sessionId ?? null, request: id }, 'mcp request cancelled: its response stream closed');
  if (req.outgoing === undefined) cancelWhenGone(req.raw.signal, body, transport, onCancel);
  else cancelWhenClosed(req.outgoing, body, transport, onCancel);
  return transport.handlePost(req.raw, body);
}

/**
 * The MCP endpoints: Streamable HTTP at /mcp (and /, as agents are often
 * configured with the bare URL) and /mcp/{server}, plus the legacy HTTP+SSE
 * pair. Each session is one SDK Server over the SDK's web-standard
 * transport, with an event store so that SSE streams can be resumed.
 */
/** The MCP endpoints' routes, and their handler for the hot path (hot-routes.ts). */
export function mcpEndpoint(gateway: McpEndpointSources): McpEndpoint {
  const app = new Hono();
  const sessions = new Map<string, HttpSession>();
  const { config, logger } = gateway;
  const idleMs = config.gateway.session_idle_timeout * 1000;
  const modern = modernMcp(gateway, logger);
  if (gateway.metrics !== undefined) countLeanCalls(gateway.metrics); // [speed] stonegate_mcp_lean_calls_total

  // Sessions whose client vanished without DELETE are closed after a while.
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const s of sessions.values()) {
        if (now - s.lastSeen > idleMs) void s.transport.close();
      }
      // So are the process pools of tokens whose 2026-07-28 requests stopped (affinity = "session").
      gateway.sessions.endIdlePrincipals(idleMs, now);
    },
    Math.max(1_000, Math.min(idleMs, 60_000)),
  );
  sweep.unref();
  gateway.onStop(async () => {
    clearInterval(sweep);
    await modern.close().catch(() => undefined);
    await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => undefined)));
  });

  /**
   * [gateway] mcp_sessions = "stateless": every POST gets a server and a
   * transport of its own, closed once its answer is out. No session id, no
   * GET stream, nothing held between requests — any gateway behind a load
   * balancer can take any request. Progress still streams on the POST's
   * own answer; what needs a session (server-to-client requests outside a
   * call, list_changed, resumption) does not exist in this mode.
   */
  // [[views]] The config of this request (a reload may have swapped it): its views, the view a path names.
  const viewOf = (req: McpRequest, single: string | undefined, pathView: string | undefined): View =>
    viewFrom(req.query(), { expose: gateway.config.gateway.expose, views: () => gateway.config.views }, single, req.identity, pathView);

  async function stateless(req: McpRequest, single?: string, pathView?: string): Promise<Response> {
    if (req.method !== 'POST') {
      return rpcError(
        405,
        -32000,
        'Method Not Allowed: this gateway serves MCP without sessions ([gateway] mcp_sessions = "stateless"); only POST is answered',
      );
    }
    if (single !== undefined) gateway.supervisor.get(single);
    const view: View = viewOf(req, single, pathView);
    const server = createSessionServer(gateway, view);
    const transport = new GatewayHttpTransport({ sessionIdGenerator: undefined }, { serverRequests: () => false });
    await server.connect(transport);
    const response = await dispatch(req, transport, logger);
    const { outgoing } = req;
    if (outgoing !== undefined && !outgoing.destroyed && !outgoing.writableFinished) outgoing.once('close', () => void server.close());
    else await server.close();
    return response;
  }

  const handle: McpHandle = async (req, endpoint, single, pathView) => {
    const { body, identity } = req;
    // A 2026-07-28 request (its protocol version in its own _meta) is served without a session.
    if (await modern.claims(req.raw, body)) {
      if (single !== undefined) gateway.supervisor.get(single);
      return modern.serve(req.raw, body, viewOf(req, single, pathView), req.client());
    }
    const id = req.header('mcp-session-id');
    // The 2026-07-28 era has no session to stream or end: GET and DELETE naming it are 405.
    if (req.method !== 'POST' && id === undefined && isModernVersion(req.header('mcp-protocol-version'))) {
      return rpcError(
        405,
        refusalCode(req.header('mcp-protocol-version'), 405),
        'Method Not Allowed: protocol 2026-07-28 has no sessions; POST each request (subscriptions/listen replaces the GET stream)',
        { Allow: 'POST' },
      );
    }
    if (config.gateway.mcp_sessions === 'stateless') return stateless(req, single, pathView);
    if (id !== undefined) {
      const session = sessions.get(id);
      if (session === undefined || session.endpoint !== endpoint) {
        // The spec's answer to an unknown or ended session: 404, so the client starts a new one.
        return rpcError(404, -32001, 'Session not found; initialize a new session');
      }
      // A session id is not a credential: another token cannot borrow the session (and its view).
      if (session.owner !== identity?.name) return rpcError(403, -32000, 'Forbidden: this session was opened with another token');
      session.lastSeen = Date.now();
      return dispatch(req, session.transport, logger);
    }
    if (req.method !== 'POST') {
      return rpcError(400, -32000, 'Bad Request: Mcp-Session-Id header is required (POST an initialize request first)');
    }
    if (single !== undefined) gateway.supervisor.get(single);
    // Before a session slot is taken: an unknown or refused view takes none.
    const view: View = viewOf(req, single, pathView);
    let release: () => void;
    try {
      release = gateway.security.caps.acquire('session', req.client());
    } catch (err) {
      const error = toGatewayError(err);
      const code = refusalCode(req.header('mcp-protocol-version'), 429);
      const answer = { jsonrpc: '2.0', error: { code, message: `${error.code}: ${error.message}`, data: { code: error.code } }, id: null };
      return Response.json(answer, { status: 429, headers: { 'Retry-After': String(error.retryAfter ?? 1) } });
    }
    const server = createSessionServer(gateway, view);
    const transport: GatewayHttpTransport = new GatewayHttpTransport(
      {
        sessionIdGenerator: () => randomUUID(),
        eventStore: new MemoryEventStore(),
        onsessioninitialized: (sessionId) => {
          sessions.set(sessionId, { server, transport, view, endpoint, owner: identity?.name, lastSeen: Date.now() });
          gateway.sessions.add(server, view);
          logger.debug({ session: sessionId, endpoint }, 'mcp session opened');
        },
        onsessionclosed: (sessionId) => {
          sessions.delete(sessionId);
        },
      },
      {
        serverRequests: () => {
          const client = server.getClientCapabilities();
          return client?.sampling !== undefined || client?.elicitation !== undefined;
        },
      },
    );
    transport.onclose = () => {
      release();
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      gateway.sessions.remove(server);
    };
    try {
      await server.connect(transport);
      const response = await dispatch(req, transport, logger);
      // Not an initialize request (or a broken one): nothing was opened.
      if (transport.sessionId === undefined) {
        release();
        await server.close();
      }
      return response;
    } catch (err) {
      release();
      throw err;
    }
  };

  /** /mcp/{server}: a backend the token may use, and that exists. */
  const handleServer = (req: McpRequest, server: string): Promise<Response> => {
    assertIdentityMayUse(req.identity, server);
    if (!gateway.supervisor.has(server)) throw new GatewayError('UNKNOWN_SERVER', `No backend named '${server}'; GET /server/list shows the backends`);
    return handle(req, `/mcp/${server}`, server);
  };

  /**
   * [speed] The lean path (mcp-lean.ts) for what `handle` and `handleServer` would answer with one JSON
   * body: the same checks in the same order, and anything they would refuse or stream left to them.
   */
  const lean: McpEndpoint['lean'] = (post, identity, single) => {
    const call = plainCall(post.body);
    if (call === undefined || (single !== undefined && (!mayUse(identity, single) || !gateway.supervisor.has(single)))) return undefined;
    const endpoint = single === undefined ? '/mcp' : `/mcp/${single}`;
    const id = post.header('mcp-session-id');
    if (id === undefined) {
      const capabilities = plainModern(call, post.header);
      // A _meta over max_meta_bytes is the SDK path's to refuse (mcp-modern.ts serve: the same measure).
      const maxMeta = config.gateway.max_meta_bytes;
      if (capabilities === undefined || (Number(post.header('content-length')) * 6 > maxMeta && metaBytes(post.body) > maxMeta)) return undefined;
      let view: View;
      try {
        view = viewFrom(NO_QUERY, { expose: gateway.config.gateway.expose, views: () => gateway.config.views }, single, identity);
      } catch {
        return undefined; // the SDK path refuses it (a token bound to a view on /mcp/{server})
      }
      if (!plainModernTool(gateway, view, call.name)) return undefined;
      const principal = enterModern(gateway, view);
      const handler = toolCallHandler(gateway, view, 'modern', envelopePeer(capabilities));
      const client = (call.meta?.['io.modelcontextprotocol/clientInfo'] as { name?: string } | undefined)?.name; // [otel] the span's client
      const era = { modern: true, client, serverInfo: serverInfoOf(single === undefined ? undefined : gateway.catalog.meta(single)) };
      return runLean(handler, post, call, era).finally(() => principal?.leave());
    }
    const session = sessions.get(id);
    if (config.gateway.mcp_sessions === 'stateless' || session === undefined || session.endpoint !== endpoint || session.owner !== identity?.name)
      return undefined;
    if (!plainLegacy(call, post.header)) return undefined;
    const mode = session.transport.leanMode();
    session.lastSeen = Date.now();
    session.lean ??= toolCallHandler(gateway, session.view, 'legacy', session.server);
    const client = session.server.getClientVersion()?.name; // [otel] the span's client
    const era: LeanEra = { modern: false, sessionId: id, client };
    if (mode === 'json') return runLean(session.lean, post, call, era, requestControllersOf(session.server));
    // [speed] A client that may be asked (sampling, elicitation) or logged to: JSON unless the call sends it a message first (mcp-lean-sse.ts).
    const { transport, server } = session;
    const stream = transport.leanStream(call.id, post.res, post.header('mcp-protocol-version'));
    era.asks = leanAsks(server as unknown as LeanAsker, call.id, stream);
    return runLean(session.lean, post, call, era, requestControllersOf(server)).finally(() => transport.leanDone(call.id, stream));
  };

  // Host/Origin, the token and the JSON depth are checked for these routes by the app's guards (security.ts).
  app.on(['GET', 'POST', 'DELETE'], '/mcp', role('agent'), async (c) => handle(await fromContext(c), '/mcp'));
  app.on(['GET', 'POST', 'DELETE'], '/mcp/:server', role('agent'), async (c) => handleServer(await fromContext(c), c.req.param('server')));
  // [[views]] A named view as an MCP server of its own (both eras; docs/views.md). Host/Origin and the token as on /mcp.
  app.on(['GET', 'POST', 'DELETE'], '/views/:view/mcp', role('agent'), async (c) =>
    handle(await fromContext(c), `/views/${c.req.param('view')}/mcp`, undefined, c.req.param('view')),
  );
  // The bare URL speaks MCP for POST and for clients that carry a session;
  // a plain GET (a person with a browser) gets a pointer instead.
  app.post('/', role('agent'), async (c) => handle(await fromContext(c), '/mcp'));
  app.delete('/', role('agent'), async (c) => handle(await fromContext(c), '/mcp'));
  app.get('/', role('agent'), async (c) => {
    if (c.req.header('mcp-session-id') !== undefined || (c.req.header('accept') ?? '').includes('text/event-stream'))
      return handle(await fromContext(c), '/mcp');
    return c.json({ name: 'stonegate', mcp: '/mcp', health: '/health', tools: '/tools' });
  });
  app.route('/', legacySseRoutes(gateway));
  return { routes: app, handle, handleServer, lean };
}
