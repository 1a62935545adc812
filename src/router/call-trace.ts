import type { BackendConfig } from '../config/schema.js';
import { type Attributes, type SpanHandle, type TraceCarrier, traceHeaders, traceIdOf, tracing } from '../telemetry/telemetry.js';
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
  if (running === undefined) return { inbound };
  const linked = request.linked === true;
  const parent = linked ? undefined : (request.parent ?? running.spanOf(request.signal));
  return { inbound, span: running.start(parent, inbound, linked, 'internal', describeCall, request) };
}

/** The trace id for a call's log lines: the call span's, else the caller's; null without either. */
export function callTraceId(trace: CallTrace): string | null {
  return traceIdOf(trace.span?.carrier() ?? trace.inbound) ?? null;
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
  if (parent?.recording !== true) return withHeaders(config, undefined, call.inbound);
  const span = parent.child(`tools/call ${tool}`, 'client', clientAttributes(config, 'tools/call', tool, pid));
  return withHeaders(config, span, { ...call.inbound, ...span.carrier() });
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

/** A call's span: its name and attributes (OpenTelemetry GenAI: execute_tool; the gateway's own under stonegate.*). */
function describeCall(request: CallRequest): { name: string; attributes: Attributes } {
  return {
    name: `execute_tool ${request.tool}`,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': request.tool,
      'stonegate.server': request.server,
      'stonegate.exposed_name': `${request.server}__${request.tool}`,
      'stonegate.caller': request.caller,
      'stonegate.async': request.linked === true ? true : undefined,
    },
  };
}

function describeForward(subject: { config: BackendConfig; method: string; pid: number | undefined }): { name: string; attributes: Attributes } {
  return { name: subject.method, attributes: clientAttributes(subject.config, subject.method, undefined, subject.pid) };
}

/** A backend's attributes as client spans name it, worked out once per backend config (a reload makes a new config). */
const backendAttributes = new WeakMap<BackendConfig, Attributes>();

/** The attributes of a backend request's span (the MCP client span of the semantic conventions). */
function clientAttributes(config: BackendConfig, method: string, tool: string | undefined, pid: number | undefined): Attributes {
  let backend = backendAttributes.get(config);
  if (backend === undefined) {
    const url = config.transport === 'http' && config.url !== undefined ? new URL(config.url) : undefined;
    backend = {
      'stonegate.server': config.name,
      'network.transport': config.transport === 'stdio' ? 'pipe' : config.transport === 'http' ? 'tcp' : undefined,
      'server.address': url?.hostname,
      'server.port': url === undefined ? undefined : Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    };
    backendAttributes.set(config, backend);
  }
  return {
    ...backend,
    'mcp.method.name': method,
    'gen_ai.tool.name': tool,
    'gen_ai.operation.name': tool === undefined ? undefined : 'execute_tool',
    'process.pid': pid,
  };
}
