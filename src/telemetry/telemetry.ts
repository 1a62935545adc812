import type { MiddlewareHandler } from 'hono';
import type { TelemetrySettings } from '../config/telemetry-schema.js';
import type { Logger } from '../log.js';

/*
 * [otel] OpenTelemetry tracing (docs/tracing.md). This file is the whole
 * of what the data path imports: the hooks are reached through tracing(),
 * which is undefined while tracing is off, so an off gateway pays one
 * undefined check per hook and never loads the SDK (otel.ts is imported
 * dynamically by startTracing, only when [telemetry] enabled = true).
 */

/** W3C trace context as text: `traceparent`, `tracestate`, `baggage` (the `_meta` keys and the HTTP headers alike). */
export type TraceCarrier = Readonly<Record<string, string>>;

/** Span attributes; undefined values are left out. */
export type Attributes = Readonly<Record<string, string | number | boolean | undefined>>;

/** Attributes as a new span takes them: defined values only, so they go to the SDK as they are (call-trace.ts makes them once per backend and tool). */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/**
 * One span the data path holds open. An unsampled one (sample_ratio, or a
 * caller's unsampled context) records nothing and costs nothing: check
 * `recording` before building attributes. end() is idempotent.
 */
export interface SpanHandle {
  /** Whether the span is sampled and recorded: attribute work only then. */
  readonly recording: boolean;
  /**
   * The W3C context that continues from this span (its traceparent and
   * tracestate); undefined for an unsampled span, whose request is traced as
   * with tracing off: the caller's context is passed on verbatim.
   */
  carrier(): TraceCarrier | undefined;
  set(attributes: Attributes): void;
  /** Records a failure: `error.type` and an error status. */
  fail(type: string, message?: string): void;
  /** A child span (unsampled under an unsampled span: this one); with `startTime` (performance.now() ms) it started back then. */
  child(name: string, kind: 'client' | 'internal', attributes: SpanAttributes, startTime?: number): SpanHandle;
  end(): void;
}

/** What an MCP server span reads of its session. */
export interface ServerInfo {
  session(): string | undefined;
  client(): string | undefined;
}

/** The server span of one HTTP request (opaque to the front door): from startHttpSpan to endHttpSpan. */
export interface HttpSpan {
  readonly span: SpanHandle;
}

/** What an MCP request's span reads of the request (a JSON-RPC request as the SDK hands it to its handlers). */
export interface McpRequestInfo {
  readonly method: string;
  readonly id?: unknown;
  readonly params?: Readonly<Record<string, unknown>>;
}

/** The span of one MCP request (startMcpSpan): `span` is the parent of what it calls (CallRequest.parent). */
export interface McpSpan {
  readonly span: SpanHandle;
  /** Ends it with the request's result (`isError`: a tool error) or, when defined, its error (its `code` is the span's error.type). */
  end(result: unknown, error?: unknown): void;
}

/** The hooks of a running tracer (otel.ts). */
export interface Tracing {
  /** See startHttpSpan. */
  startHttp(request: object | undefined, method: string, path: string, header: (name: string) => string | undefined, route?: string): HttpSpan | undefined;
  /** See endHttpSpan. */
  endHttp(span: HttpSpan, route: string | undefined, status: number): void;
  /** Hono middleware over startHttp/endHttp: a server span per request (long polls and async-call polls excepted). */
  readonly http: MiddlewareHandler;
  /** See startMcpSpan. */
  startMcp(
    httpRequest: object | undefined,
    request: McpRequestInfo,
    session: () => string | undefined,
    client: () => string | undefined,
    signal?: object,
  ): McpSpan | undefined;
  /** See keyHttpSpan. */
  keyHttp(span: HttpSpan, key: object): void;
  /** Adds a span per MCP request to the requests `server` (the SDK's Server) answers. */
  traceServer(server: object, info: ServerInfo): void;
  /**
   * A span of the call path (a routed call, a request to a backend): a child
   * of `parent` (the span of the request making it; unsampled under an
   * unsampled one), else of `carrier` (the caller's context, by its sampled
   * flag) or a new trace (by sample_ratio); `linked` (an async call): a trace
   * of its own, linked to `carrier` (its submitter). `describe` names it and
   * gives its attributes, called only when it is recorded.
   */
  start<T>(
    parent: SpanHandle | undefined,
    carrier: TraceCarrier | undefined,
    linked: boolean,
    kind: 'client' | 'internal',
    describe: (subject: T) => { name: string; attributes: SpanAttributes },
    subject: T,
  ): SpanHandle;
  /** The span of the request `key` names (an HTTP request's Request, an MCP request's AbortSignal), if any. */
  spanOf(key: object | undefined): SpanHandle | undefined;
  /** Spans dropped (queue full, export failed) and exported, for /metrics. */
  readonly counts: { readonly dropped: number; readonly exported: number };
  /** Flushes what is queued (within a bound) and stops. */
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/** The running tracer, or undefined when tracing is off: every hook of the data path is `tracing()?.hook(…)`. */
export function tracing(): Tracing | undefined {
  return active;
}

/**
 * Starts tracing when [telemetry] enabled is true (and OTEL_SDK_DISABLED is
 * not "true"): loads the SDK and the OTLP exporter. Process-wide, like the
 * OpenTelemetry SDK itself: one gateway per process traces.
 */
export async function startTracing(settings: TelemetrySettings, logger: Logger): Promise<void> {
  if (!settings.enabled || active !== undefined) return;
  if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    logger.info('[telemetry] enabled, but OTEL_SDK_DISABLED=true: tracing stays off');
    return;
  }
  const { createTracing } = await import('./otel.js');
  active = createTracing(settings, logger);
}

/** Stops tracing, exporting what is queued first (bounded). Idempotent. */
export async function stopTracing(): Promise<void> {
  const running = active;
  active = undefined;
  await running?.shutdown();
}

/**
 * [otel] Starts the server span of an HTTP request, for a front door that
 * serves a route without the Hono middleware (tracing().http is that
 * middleware). `request` is the object the request is known by further in:
 * the Request handed to the MCP transport (an MCP span finds its parent by
 * it) or to spanOf; undefined: nothing finds it but its HttpSpan (REST
 * /call passes `span` on as the call's parent itself). `route`: the route
 * pattern when the front door knows it before the answer (the span is named
 * by it from the start). Undefined while tracing is off, and for requests that
 * are not timed (event streams, async-call polls, /log/stream). Costs one
 * undefined check while tracing is off, and no attribute work unsampled.
 */
export function startHttpSpan(
  request: object | undefined,
  method: string,
  path: string,
  header: (name: string) => string | undefined,
  route?: string,
): HttpSpan | undefined {
  return active?.startHttp(request, method, path, header, route);
}

/** [otel] Ends what startHttpSpan started: `route` is the matched route pattern (undefined: none), `status` the response's. */
export function endHttpSpan(span: HttpSpan | undefined, route: string | undefined, status: number): void {
  if (span !== undefined) active?.endHttp(span, route, status);
}

/**
 * [otel] The span of an MCP request served without the SDK's Server (the
 * SDK's are made by traceServer's hook): `httpRequest` is the object its
 * POST's span was started with (startHttpSpan's `request`: the hot route's
 * Request; the MCP request shares that span when it has no `_meta` context
 * of its own), `session` the session id (undefined: stateless), `client`
 * the client's name, `signal` the request's signal if the routed call gets
 * it (the call finds the span by it, as it finds the SDK handlers'); else
 * pass `.span` as the routed call's `parent`. Call `.end(result, error)`
 * when answered. Undefined while tracing is off and
 * for polls and waits (ping, tasks/get, gate_poll, …); an unsampled request
 * gets a span that records nothing.
 */
export function startMcpSpan(
  httpRequest: object | undefined,
  request: McpRequestInfo,
  session: string | undefined,
  client: string | undefined,
  signal?: object,
): McpSpan | undefined {
  return active?.startMcp(
    httpRequest,
    request,
    () => session,
    () => client,
    signal,
  );
}

/**
 * [otel] Makes the span startHttpSpan started findable by one more object:
 * a front door that started it on the Node request and then hands the
 * request to the SDK's transport as a web Request (hot-routes.ts) keys it
 * by that Request too, where an MCP span looks for its POST's span.
 */
export function keyHttpSpan(span: HttpSpan | undefined, key: object): void {
  if (span !== undefined) active?.keyHttp(span, key);
}

/** [otel] The span of a request (its Request, or an MCP request's AbortSignal): a parent for what it calls. Undefined with tracing off. */
export function requestSpan(key: object | undefined): SpanHandle | undefined {
  return active?.spanOf(key);
}

/**
 * [otel] The context an async call keeps of the request that submitted it:
 * that request's span's while it is recorded, else the caller's own
 * (`inbound`), verbatim.
 */
export function submitterContext(key: object | undefined, inbound: TraceCarrier | undefined): TraceCarrier | undefined {
  const span = active?.spanOf(key);
  return span?.recording === true ? span.carrier() : inbound;
}

/** A traceparent as W3C Trace Context level 1 writes it (version 00; later versions may append fields): anything else is not passed on. */
export const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[\x21-\x7e]*)?$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
/** tracestate: at most 512 characters of printable ASCII (its list syntax is the backend's to read). */
const TRACESTATE = /^[\x20-\x7e]{0,512}$/;

/** The W3C trace context of a request's HTTP headers (traceparent, tracestate, baggage), or undefined without a well-formed traceparent. */
export function httpCarrier(header: (name: string) => string | undefined): TraceCarrier | undefined {
  const traceparent = header('traceparent');
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return undefined;
  const tracestate = header('tracestate');
  const baggage = header('baggage');
  return { traceparent, ...(tracestate === undefined ? {} : { tracestate }), ...(baggage === undefined ? {} : { baggage }) };
}

/** The trace id a carrier's traceparent names (version-traceid-spanid-flags), for log lines; undefined without one. */
export function traceIdOf(carrier: TraceCarrier | undefined): string | undefined {
  const traceparent = carrier?.traceparent;
  if (traceparent === undefined) return undefined;
  // version-traceid-…: the 32 characters after the version's dash (no split: called for every call's log lines).
  const id = traceparent.slice(3, 35);
  return traceparent.charCodeAt(2) === 45 && traceparent.charCodeAt(35) === 45 && TRACE_ID.test(id) ? id : undefined;
}

/**
 * The headers of the trace context toward an HTTP backend: a well-formed
 * traceparent, and its tracestate when that is a valid header value (a
 * caller's `_meta` may hold anything; it stays in `_meta` as sent). Baggage
 * stays in `_meta` only.
 */
export function traceHeaders(carrier: TraceCarrier | undefined): Record<string, string> | undefined {
  const traceparent = carrier?.traceparent;
  if (traceparent === undefined || !TRACEPARENT.test(traceparent)) return undefined;
  const tracestate = carrier?.tracestate;
  return tracestate === undefined || !TRACESTATE.test(tracestate) ? { traceparent } : { traceparent, tracestate };
}
