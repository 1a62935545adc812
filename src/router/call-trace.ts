import type { BackendConfig } from '../config/schema.js';
import { type SpanAttributes, type SpanHandle, type TraceCarrier, traceHeaders, traceIdOf, tracing } from '../telemetry/telemetry.js';
import type { CallRequest } from './router.js';

/*
 * [otel] The router's side of tracing (docs/tracing.md): a routed call's
 * span, the pool's wait, and the span of each request to a backend, whose
 * context replaces the caller's toward the backend. While tracing is off,
 * and for an unsampled call, none of this makes anything (no attributes, no
 * ids): the caller's context (REST headers, `_meta`, an async call's
 * submitter's) is passed on verbatim.
 */

/** A call's trace: the caller's context, and the call's span while tracing is on. */
export interface CallTrace {
  inbound?: TraceCarrier;
  span?: SpanHandle;
  /** [otel] The trace id of the call's log lines and /log row, read once (callTraceId; null: none). */
  id?: string | null;
}

/** What a request to a backend carries: its span (tracing on), the context for `_meta`, the headers for an http backend. */
export interface BackendTrace {
  span?: SpanHandle;
  trace?: TraceCarrier;
  headers?: Record<string, string>;
}

/**
 * Starts a call's trace: a child of the span of the request making it
 * (`parent`, else the MCP request's, found by the call's signal), else of
 * the caller's context; an async call: a trace of its own linked to its submitter.
 */
export function startCallTrace(request: CallRequest): CallTrace {
  const inbound = request.traceContext ?? request.downstream?.traceContext;
  const running = tracing();
  if (running === undefined) return { inbound, span: undefined, id: undefined };
  const linked = request.linked === true;
  const parent = linked ? undefined : (request.parent ?? running.spanOf(request.signal));
  return { inbound, span: running.start(parent, inbound, linked, 'internal', describeCall, request), id: undefined };
}

/** The trace id for a call's log lines: the call span's, else the caller's; null without either. Read once per call (three log lines and the /log row ask). */
export function callTraceId(trace: CallTrace): string | null {
  if (trace.id === undefined) trace.id = traceIdOf(trace.span?.carrier() ?? trace.inbound) ?? null;
  return trace.id;
}

/** Ends a call's span with its outcome, the backend's breaker state and the attempt (2: sent again after a crash). */
export function endCallTrace(
  trace: CallTrace,
  outcome: 'success' | 'error' | 'timeout',
  retried: boolean,
  breaker?: string,
  code?: string,
  message?: string,
): void {
  const span = trace.span;
  if (span?.recording !== true) return;
  span.set({ 'stonegate.outcome': outcome, 'stonegate.attempt': retried ? 2 : 1, 'stonegate.breaker_state': breaker });
  if (code !== undefined) span.fail(code, message);
  span.end();
}

/** The pool's wait before a connection took the call: an attribute, and a span of its own when it was a real wait (≥ 1 ms). */
export function waited(span: SpanHandle | undefined, server: string, asked: number): void {
  if (span?.recording !== true) return;
  const ms = performance.now() - asked;
  span.set({ 'stonegate.pool.wait_ms': Math.round(ms * 100) / 100 });
  if (ms >= 1) span.child('pool acquire', 'internal', { 'stonegate.server': server }, asked).end();
}

/** A tools/call to a backend: a client span under the call's (recorded), whose context goes on with the caller's baggage. */
export function toolRequestTrace(call: CallTrace, config: BackendConfig, tool: string, pid: number | undefined): BackendTrace {
  const parent = call.span;
  // A plain object of three keys, values possibly undefined (the router destructures it): no spreads on the call path.
  if (parent?.recording !== true)
    return { span: undefined, trace: call.inbound, headers: config.transport === 'http' ? traceHeaders(call.inbound) : undefined };
  const { name, attributes } = clientSpan(config, 'tools/call', tool, pid);
  const span = parent.child(name, 'client', attributes);
  const trace = call.inbound === undefined ? span.carrier() : { ...call.inbound, ...span.carrier() };
  return { span, trace, headers: config.transport === 'http' ? traceHeaders(trace) : undefined };
}

/**
 * Another request to a backend (resources/read, prompts/get, lists): a
 * client span under the MCP request's that makes it (found by its signal),
 * tracing on; unsampled, the caller's context in `_meta` goes on as with tracing off.
 */
export function forwardTrace(config: BackendConfig, method: string, pid: number | undefined, signal: AbortSignal | undefined): BackendTrace {
  const running = tracing();
  if (running === undefined) return {};
  const span = running.start(running.spanOf(signal), undefined, false, 'client', describeForward, { config, method, pid });
  return span.recording ? withHeaders(config, span, span.carrier()) : {};
}

function withHeaders(config: BackendConfig, span: SpanHandle | undefined, trace: TraceCarrier | undefined): BackendTrace {
  const headers = config.transport === 'http' ? traceHeaders(trace) : undefined;
  return { ...(span === undefined ? {} : { span }), ...(trace === undefined ? {} : { trace }), ...(headers === undefined ? {} : { headers }) };
}

/*
 * [otel] The names and attributes of spans are made once and reused (the
 * SDK copies them into each span): per (server, tool) for a call span, per
 * (backend config, pid, tool or method) for a backend request's. A reload
 * makes new configs; the maps are bounded all the same (cleared when full:
 * a caller can name tools that do not exist).
 */
const MAX_NAMES = 1024;

interface CallNames {
  name: string;
  /** The attributes of a call without a caller identity, not async (most calls over an open gateway). */
  plain: SpanAttributes;
  /** With a caller identity (an MCP session's client or a token's name), not async: made once per caller. */
  byCaller: Map<string, SpanAttributes>;
}

const callNames = new Map<string, Map<string, CallNames>>();

/** A call's span: its name and attributes (OpenTelemetry GenAI: execute_tool; the gateway's own under stonegate.*). */
function describeCall(request: CallRequest): { name: string; attributes: SpanAttributes } {
  const { server, tool, caller } = request;
  let tools = callNames.get(server);
  if (tools === undefined) {
    if (callNames.size >= MAX_NAMES) callNames.clear();
    tools = new Map();
    callNames.set(server, tools);
  }
  let names = tools.get(tool);
  if (names === undefined) {
    if (tools.size >= MAX_NAMES) tools.clear();
    const plain = {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': tool,
      'stonegate.server': server,
      'stonegate.exposed_name': `${server}__${tool}`,
    };
    names = { name: `execute_tool ${tool}`, plain, byCaller: new Map() };
    tools.set(tool, names);
  }
  const async = request.linked === true;
  if (caller === undefined && !async) return { name: names.name, attributes: names.plain };
  if (caller !== undefined && !async) {
    let attributes = names.byCaller.get(caller);
    if (attributes === undefined) {
      if (names.byCaller.size >= 64) names.byCaller.clear();
      attributes = { ...names.plain, 'stonegate.caller': caller };
      names.byCaller.set(caller, attributes);
    }
    return { name: names.name, attributes };
  }
  const attributes: Record<string, string | number | boolean> = { ...names.plain };
  if (caller !== undefined) attributes['stonegate.caller'] = caller;
  if (async) attributes['stonegate.async'] = true;
  return { name: names.name, attributes };
}

function describeForward(subject: { config: BackendConfig; method: string; pid: number | undefined }): { name: string; attributes: SpanAttributes } {
  return clientSpan(subject.config, subject.method, undefined, subject.pid);
}

/** A backend's client spans by pid (a connection's process), then by tool (tools/call) or by method (the others). */
interface BackendSpans {
  base: SpanAttributes;
  byPid: Map<number | undefined, { tools: Map<string, ClientSpan>; methods: Map<string, ClientSpan> }>;
}

interface ClientSpan {
  name: string;
  attributes: SpanAttributes;
}

const backendSpans = new WeakMap<BackendConfig, BackendSpans>();

/** A backend request's span: its name and attributes (the MCP client span of the semantic conventions). */
function clientSpan(config: BackendConfig, method: string, tool: string | undefined, pid: number | undefined): ClientSpan {
  let backend = backendSpans.get(config);
  if (backend === undefined) {
    const url = config.transport === 'http' && config.url !== undefined ? new URL(config.url) : undefined;
    const base: Record<string, string | number> = { 'stonegate.server': config.name };
    if (config.transport === 'stdio' || config.transport === 'http') base['network.transport'] = config.transport === 'stdio' ? 'pipe' : 'tcp';
    if (url !== undefined) {
      base['server.address'] = url.hostname;
      base['server.port'] = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    }
    backend = { base, byPid: new Map() };
    backendSpans.set(config, backend);
  }
  let of = backend.byPid.get(pid);
  if (of === undefined) {
    // A restarted backend has a new pid: the old ones go once there are a few.
    if (backend.byPid.size >= 8) backend.byPid.clear();
    of = { tools: new Map(), methods: new Map() };
    backend.byPid.set(pid, of);
  }
  const map = tool === undefined ? of.methods : of.tools;
  const key = tool ?? method;
  let span = map.get(key);
  if (span === undefined) {
    if (map.size >= MAX_NAMES) map.clear();
    const attributes: Record<string, string | number> = { ...backend.base, 'mcp.method.name': method };
    if (tool !== undefined) {
      attributes['gen_ai.tool.name'] = tool;
      attributes['gen_ai.operation.name'] = 'execute_tool';
    }
    if (pid !== undefined) attributes['process.pid'] = pid;
    span = { name: tool === undefined ? method : `${method} ${tool}`, attributes };
    map.set(key, span);
  }
  return span;
}
