import type { ServerResponse } from 'node:http';
import type { ClientCapabilities, JSONRPCMessage, JSONRPCRequest, RequestId, ServerContext } from '@modelcontextprotocol/server';
import { ProtocolErrorCode, SERVER_INFO_META_KEY, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server';
import { Counter, type Registry } from 'prom-client';
import { bridgedCalls } from '../mcp/bridged-call.js';
import { GATE_TOOL_NAMES } from '../mcp/gate-tools.js';
import { toolOf } from '../mcp/named-view.js';
import type { SessionServerSources } from '../mcp/session-server.js';
import { runsAsTask } from '../mcp/task-extension.js';
import type { CallPeer, ToolCallHandler } from '../mcp/tool-call.js';
import { sees, type View } from '../mcp/view.js';
import { paramHeaders } from '../router/param-headers.js';
import { startMcpSpan } from '../telemetry/telemetry.js';
import type { LeanAsks } from './mcp-lean-sse.js';

/*
 * [speed] The lean /mcp front path (#30): a plain `tools/call` POST — one
 * JSON-RPC request, on an initialized 2025 session whose answer the SDK
 * transport would send as one JSON body, or a 2026-07-28 request the SDK
 * would answer with one JSON body — is answered here without the SDK's
 * web Request/Response, its streamable-HTTP transport (zod message parse,
 * stream bookkeeping) and, for 2026-07-28, without building and closing an
 * SDK server per request. The request shape is checked by hand, strictly:
 * whatever is not plainly such a call (progress token, task, a retry's
 * inputResponses/requestState, a logLevel, the Tasks extension, Mcp-Param
 * headers, an envelope beyond the plain keys, a header the SDK
 * would refuse) goes to the SDK path, which answers it as before. The call
 * itself runs the session server's own handler (mcp/tool-call.ts) with the
 * few context fields it reads, and the answer is encoded as the SDK's
 * Protocol encodes a handler's result or error for that era.
 * test/issues/30-lean-mcp.test.ts holds the lean answers to the SDK path's.
 */

/** A guarded, parsed POST of the hot /mcp route (hot-routes.ts). */
export interface LeanPost {
  header(name: string): string | undefined;
  /** The parsed JSON body. */
  body: unknown;
  /** The Node response: its closing before the answer cancels the call. */
  res: ServerResponse;
  /** [otel] The object the POST's server span was started with (startHttpSpan): the call's MCP span shares or parents it. */
  key?: object;
}

/** The answer to write: one JSON text with its status and headers. */
export interface LeanAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** The plain tools/call of a body: its id, params, tool name and `_meta`. */
export interface PlainCall {
  id: RequestId;
  params: Record<string, unknown>;
  name: string;
  meta: Record<string, unknown> | undefined;
}

/** How many calls each era took on the lean path (GET /metrics: stonegate_mcp_lean_calls_total). */
const leanCalls = { legacy: 0, modern: 0 };
const LEAN_METRIC = 'stonegate_mcp_lean_calls_total';

/** Adds stonegate_mcp_lean_calls_total{era} and stonegate_mcp_bridged_calls_total{input} to a gateway's metrics (once), read when scraped. */
export function countLeanCalls(registry: Registry): void {
  if (registry.getSingleMetric(LEAN_METRIC) !== undefined) return;
  new Counter({
    name: LEAN_METRIC,
    help: 'MCP tools/call requests answered on the lean /mcp front path, by protocol era (2025 sessions, 2026-07-28).',
    labelNames: ['era'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ era: '2025' }, leanCalls.legacy);
      this.inc({ era: '2026-07-28' }, leanCalls.modern);
    },
  });
  // [speed] 2026-07-28 callers of 2025-era backends: held by the input bridge, or straight to the router (mcp/bridged-call.ts askable).
  new Counter({
    name: 'stonegate_mcp_bridged_calls_total',
    help: 'tools/call requests of 2026-07-28 callers to 2025-era backends (first calls, both paths): input="askable" through the input bridge (the caller declared sampling or elicitation), input="none" straight to the router.',
    labelNames: ['input'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ input: 'askable' }, bridgedCalls.askable);
      this.inc({ input: 'none' }, bridgedCalls.unasked);
    },
  });
}

const isPlain = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Whether every own key of `object` is one of `allowed`. */
function only(object: Record<string, unknown>, allowed: readonly string[]): boolean {
  for (const key in object) if (!allowed.includes(key)) return false;
  return true;
}

const MESSAGE_KEYS = ['jsonrpc', 'id', 'method', 'params'];
const PARAMS_KEYS = ['name', 'arguments', '_meta'];

/**
 * The body as a plain tools/call (a subset of what the SDK's JSON-RPC
 * schema accepts: exact keys, a string or integer id, params with a string
 * name, arguments an object when present), else undefined.
 */
export function plainCall(body: unknown): PlainCall | undefined {
  if (!isPlain(body) || !only(body, MESSAGE_KEYS)) return undefined;
  const { jsonrpc, id, method, params } = body;
  if (jsonrpc !== '2.0' || method !== 'tools/call' || !isPlain(params) || !only(params, PARAMS_KEYS)) return undefined;
  if (typeof id !== 'string' && !Number.isSafeInteger(id)) return undefined;
  const { name, arguments: args, _meta: meta } = params;
  if (typeof name !== 'string' || (args !== undefined && !isPlain(args)) || (meta !== undefined && !isPlain(meta))) return undefined;
  return { id: id as RequestId, params, name, meta };
}

const ENVELOPE_PREFIX = 'io.modelcontextprotocol/';

/** A 2025-session call that is plain: no progress token and no envelope key in its `_meta`, and headers the transport takes. */
export function plainLegacy(call: PlainCall, header: (name: string) => string | undefined): boolean {
  const accept = header('accept');
  if (accept === undefined || !accept.includes('application/json') || !accept.includes('text/event-stream')) return false;
  const version = header('mcp-protocol-version');
  if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return false;
  if (call.meta !== undefined) for (const key in call.meta) if (key === 'progressToken' || key.startsWith(ENVELOPE_PREFIX)) return false;
  return true;
}

const MODERN = '2026-07-28';
const VERSION_KEY = `${ENVELOPE_PREFIX}protocolVersion`;
const INFO_KEY = `${ENVELOPE_PREFIX}clientInfo`;
const CAPABILITIES_KEY = `${ENVELOPE_PREFIX}clientCapabilities`;
const ENVELOPE_KEYS = [VERSION_KEY, INFO_KEY, CAPABILITIES_KEY];
const INFO_KEYS = ['name', 'title', 'version', 'websiteUrl', 'description'];

/**
 * A 2026-07-28 call that is plain: an envelope of exactly the version,
 * clientInfo and clientCapabilities (each capability an object of empty
 * objects, so well within the SDK's envelope schema; no logLevel, no
 * progress token), the standard headers equal to the body, and no Tasks
 * extension. Its client capabilities, else undefined.
 */
export function plainModern(call: PlainCall, header: (name: string) => string | undefined): ClientCapabilities | undefined {
  const meta = call.meta;
  if (meta === undefined || meta[VERSION_KEY] !== MODERN || !only(meta, ENVELOPE_KEYS)) return undefined;
  if (header('mcp-protocol-version') !== MODERN || header('mcp-method') !== 'tools/call' || header('mcp-name') !== call.name) return undefined;
  const info = meta[INFO_KEY];
  if (info !== undefined) {
    if (!isPlain(info) || !only(info, INFO_KEYS) || typeof info.name !== 'string' || typeof info.version !== 'string') return undefined;
    for (const key in info) if (typeof info[key] !== 'string') return undefined;
  }
  const capabilities = meta[CAPABILITIES_KEY];
  if (!isPlain(capabilities) || 'extensions' in capabilities) return undefined;
  for (const key in capabilities) {
    const capability = capabilities[key];
    if (!isPlain(capability)) return undefined;
    for (const inner in capability) {
      const value = capability[inner];
      if (!isPlain(value) || Object.keys(value).length > 0) return undefined;
    }
  }
  return capabilities as ClientCapabilities;
}

/**
 * Whether the view's tool of that name is one the lean path runs on the
 * 2026-07-28 leg: a gate tool on /mcp (the handler answers it before any
 * lookup, as on the SDK path), or a tool known to the view now (else the
 * SDK path waits for the catalog and answers) with no Mcp-Param headers to
 * check and not run as a task.
 */
export function plainModernTool(gateway: Pick<SessionServerSources, 'catalog' | 'supervisor'>, view: View, name: string): boolean {
  if (view.single === undefined && GATE_TOOL_NAMES.has(name)) return true;
  const entry = toolOf(gateway.catalog, view, name);
  if (entry === undefined || !sees(view, entry.server)) return false;
  return paramHeaders(entry.inputSchema).length === 0 && !runsAsTask(gateway, entry.server, entry.name);
}

/** The request as the SDK's Protocol hands it to a handler (the envelope lifted off `_meta`). */
function handlerRequest(call: PlainCall, modern: boolean): JSONRPCRequest {
  if (!modern) return { jsonrpc: '2.0', id: call.id, method: 'tools/call', params: call.params } as JSONRPCRequest;
  const { _meta: _envelope, ...params } = call.params;
  return { jsonrpc: '2.0', id: call.id, method: 'tools/call', params } as JSONRPCRequest;
}

const refusedRequest = (): Promise<never> => Promise.reject(new Error('stonegate: a plain call sends no request to the agent'));
const dropped = async (): Promise<void> => undefined;

/**
 * The context a handler reads of one request: its id, method, `_meta`
 * (without the envelope), envelope, signal, and a retry's fields (none on a
 * plain call). Without `asks`, notifications are dropped, as the SDK drops
 * them for a request it answers with one JSON body (a 2025 session in JSON
 * mode; a 2026-07-28 request without a logLevel sends none); with them, a
 * request or notification goes out as the SDK's ctx.mcpReq sends it
 * ([speed] mcp-lean-sse.ts).
 */
function contextOf(call: PlainCall, modern: boolean, signal: AbortSignal, header: LeanPost['header'], asks?: LeanAsks): ServerContext {
  const mcpReq = {
    id: call.id,
    method: 'tools/call',
    _meta: modern ? undefined : call.meta,
    ...(modern ? { envelope: call.meta } : {}),
    signal,
    requestState: () => undefined,
    send: asks?.send ?? refusedRequest,
    notify: asks?.notify ?? dropped,
  };
  // [otel] The POST's headers, as the SDK's ctx.http.req gives them: an HTTP traceparent reaches the backend (pool/backend-era.ts traced).
  const http = { req: { headers: { get: (name: string): string | null => header(name) ?? null } } };
  return { mcpReq, http } as unknown as ServerContext;
}

/** How the answer of one era is made: the session id to echo (2025), the server identity to stamp (2026-07-28). */
export interface LeanEra {
  modern: boolean;
  sessionId?: string;
  /** [otel] The client's name, for the call's MCP span (as the SDK path's span names it). */
  client?: string;
  serverInfo?: Record<string, unknown>;
  /** [speed] A 2025 session whose client may be asked: the call's send, notify and switchable stream (mcp-lean-sse.ts). */
  asks?: LeanAsks;
}

/**
 * A result as the SDK's 2026-07-28 codec encodes a tools/call result
 * (stampResultType, then stampServerInfoMeta; tools/call takes no cache
 * fields): `resultType` "complete" unless the handler set one, and the
 * server's identity in `_meta` unless the result names one.
 */
function modernResult(result: Record<string, unknown>, serverInfo: Record<string, unknown> | undefined): Record<string, unknown> {
  const meta = result._meta;
  const stamp = serverInfo !== undefined && (meta === undefined || (isPlain(meta) && meta[SERVER_INFO_META_KEY] === undefined));
  if (result.resultType !== undefined && !stamp) return result;
  // [speed] One copy: a key set on it keeps its place, a new one goes last (the SDK's two stamps give the same order).
  const out: Record<string, unknown> = { ...result };
  if (out.resultType === undefined) out.resultType = 'complete';
  if (stamp)
    out._meta = meta === undefined ? { [SERVER_INFO_META_KEY]: serverInfo } : { ...(meta as Record<string, unknown>), [SERVER_INFO_META_KEY]: serverInfo };
  return out;
}

/** The error response of a handler's failure, as the SDK's Protocol makes it (its code, -32002 as -32602, its message and data). */
function errorBody(id: RequestId, error: unknown): Record<string, unknown> {
  const e = error as { code?: unknown; message?: unknown; data?: unknown };
  const thrown = Number.isSafeInteger(e.code) ? (e.code as number) : ProtocolErrorCode.InternalError;
  const code = thrown === -32002 ? -32602 : thrown;
  return { jsonrpc: '2.0', id, error: { code, message: e.message ?? 'Internal error', ...(e.data !== undefined && { data: e.data }) } };
}

/**
 * Runs a plain call through `handler` and makes its answer, or undefined
 * when the call was cancelled (the SDK answers nothing then either).
 * `controllers` is where a cancel finds the call (a 2025 session's SDK
 * server: the client's notifications/cancelled aborts it there).
 */
export async function runLean(
  handler: ToolCallHandler,
  post: LeanPost,
  call: PlainCall,
  era: LeanEra,
  controllers?: Map<RequestId, AbortController>,
): Promise<LeanAnswer | undefined> {
  leanCalls[era.modern ? 'modern' : 'legacy'] += 1;
  const aborter = new AbortController();
  controllers?.set(call.id, aborter);
  const { res } = post;
  // The client going away before the answer cancels the call, as cancelWhenClosed does on the SDK path.
  const onClose = (): void => {
    if (res.writableFinished) return;
    aborter.abort('The client connection closed before the answer was sent');
    era.asks?.stream.dropped(); // [speed] an SSE stream no longer written (mcp-lean-sse.ts)
  };
  res.once('close', onClose);
  // [otel] The call's MCP span (tracing on), as the SDK path's handler hook makes it; the routed call finds it by the signal.
  const traced = startMcpSpan(post.key, { method: 'tools/call', id: call.id, params: call.params }, era.sessionId, era.client, aborter.signal);
  let body: Record<string, unknown>;
  try {
    const context = contextOf(call, era.modern, aborter.signal, post.header, era.asks);
    const result = (await handler(handlerRequest(call, era.modern), context)) as Record<string, unknown>;
    traced?.end(result);
    body = { result: era.modern ? modernResult(result, era.serverInfo) : result, jsonrpc: '2.0', id: call.id };
  } catch (error) {
    traced?.end(undefined, error);
    body = errorBody(call.id, error);
  } finally {
    res.off('close', onClose);
    if (controllers?.get(call.id) === aborter) controllers.delete(call.id);
  }
  // [speed] A call that has sent its client a message is answered on its SSE stream (mcp-lean-sse.ts).
  if (era.asks?.stream.opened === true) return era.asks.stream.settle(body as JSONRPCMessage, aborter.signal.aborted);
  if (aborter.signal.aborted) return undefined;
  // 2026-07-28: a relayed -32021 is the one handler error the SDK answers with HTTP 400 (its "ladder" status).
  const missing = era.modern && (body.error as { code?: number } | undefined)?.code === ProtocolErrorCode.MissingRequiredClientCapability;
  const headers: Record<string, string> = era.sessionId === undefined ? {} : { 'mcp-session-id': era.sessionId };
  return { status: missing ? 400 : 200, headers, text: JSON.stringify(body) };
}

/** The peer of a 2026-07-28 request: the capabilities its envelope declares. */
export function envelopePeer(capabilities: ClientCapabilities): CallPeer {
  return { getClientCapabilities: () => capabilities };
}

/**
 * The request controllers of a 2025 session's SDK server (Protocol's
 * private `_requestHandlerAbortControllers`, pinned like the transport's
 * fields: test/http/mcp-transport-internals.test.ts). A lean call registers
 * there, so the client's notifications/cancelled and the session's close
 * abort it as they abort the SDK's own requests.
 */
export function requestControllersOf(server: object): Map<RequestId, AbortController> | undefined {
  const controllers = (server as { _requestHandlerAbortControllers?: unknown })._requestHandlerAbortControllers;
  return controllers instanceof Map ? (controllers as Map<RequestId, AbortController>) : undefined;
}
