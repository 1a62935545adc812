import type { Context, Link, Attributes as OtelAttributes, Tracer } from '@opentelemetry/api';
import type { BatchSpanProcessor, ReadableSpan, Sampler, Span as SdkSpan, SpanExporter, SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Context as HonoContext, Next } from 'hono';
import type { TelemetrySettings } from '../config/telemetry-schema.js';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';
import { EndedSpan } from './ended-span.js';
import { PooledIds } from './ids.js';
import { lazyOtlpExporter } from './lazy-exporter.js';
import { mcpSpans as mcpSpanMaker, RequestSpan } from './mcp-spans.js';
import { envNumber, envString, sdk } from './sdk.js';
import { Adopted, extract, innerMap, Recorded, sampled, startSdkSpan, UNSAMPLED } from './spans.js';
import { httpCarrier, type ServerInfo, type SpanHandle, type TraceCarrier, type Tracing } from './telemetry.js';

/*
 * [otel] The OpenTelemetry SDK behind tracing(): loaded only when
 * [telemetry] enabled = true (telemetry.ts imports this file dynamically).
 *
 * No context manager: the span of a request travels explicitly
 * (spans.ts). An HTTP request's span is kept by its Request object, an MCP
 * request's by its AbortSignal (ctx.mcpReq.signal, the SDK's per request,
 * which every surface hands to the router with the call): the MCP span
 * finds its HTTP parent by ctx.http.req, and a routed call or a forwarded
 * request finds its MCP parent by its signal (spanOf). The call's own
 * children (pool wait, the backend request) are made from its handle.
 *
 * The SDK (tracer provider, batch processor, resource, exporter) is built
 * at the first sampled span, not at start (sdk.ts): until then a tracing
 * gateway holds none of it, and at sample_ratio 0 it never does.
 */

/** The HTTP attributes a server span starts with (the semantic conventions' required ones; http.route once known). */
function httpAttributes(method: string, path: string, route?: string): OtelAttributes {
  const attributes: OtelAttributes = { 'http.request.method': method, 'url.path': path, 'url.scheme': 'http' };
  if (route !== undefined) attributes['http.route'] = route;
  return attributes;
}

/** [otel] A hot route's span name and attributes, made once per (route, path, method) and not per request (the SDK copies them); bounded, as `/mcp/{server}` paths are the client's. */
const routeSpans = new Map<string, Map<string, { method: string; name: string; attributes: OtelAttributes }>>();
function routeSpan(method: string, path: string, route: string): { name: string; attributes: OtelAttributes } {
  const paths = innerMap(routeSpans, route, 64);
  let made = paths.get(path);
  if (made === undefined || made.method !== method) {
    if (paths.size >= 256) paths.clear();
    made = { method, name: `${method} ${route}`, attributes: httpAttributes(method, path, route) };
    paths.set(path, made);
  }
  return made;
}

/** Probes and scrapes (GET): no span. */
const PROBES = new Set(['/health', '/livez', '/readyz', '/metrics', '/coord/livez', '/coord/readyz']);

/** Long polls (wait for an event): no server span; a zero-length `poll wake` span when one answers. */
const LONG_POLLS = /^\/coord\/(msg\/poll|agent\/wait)$/;

type Handler = (request: { method: string; id?: unknown; params?: Record<string, unknown> }, ctx: unknown) => Promise<unknown>;
/** What an MCP span reads of the SDK's handler context (ServerContext). */
type McpContext = { sessionId?: string; mcpReq?: { signal?: AbortSignal }; http?: { req?: object } } | undefined;

/** Export results counted: spans dropped (queue full, export failed) and exported. */
class Counts {
  dropped = 0;
  exported = 0;
  queued = 0;
  failing = false;
}

/** The batch processor, counting what it drops for a full queue (as it decides: spans waiting ≥ maxQueueSize). */
class CountingProcessor implements SpanProcessor {
  private readonly sampledFlag = sdk().api.TraceFlags.SAMPLED;
  constructor(
    private readonly inner: BatchSpanProcessor,
    private readonly counts: Counts,
    private readonly max: number,
  ) {}
  onStart(span: SdkSpan, parent: Context): void {
    this.inner.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & this.sampledFlag) === 0) return;
    if (this.counts.queued >= this.max) this.counts.dropped += 1;
    else this.counts.queued += 1;
    // The queue holds what the exporter reads, not the SDK's span (ended-span.ts).
    this.inner.onEnd(new EndedSpan(span));
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** The OTLP exporter, counting what it sends and what fails (an unreachable collector: the batch is dropped, never retried forever). */
function countingExporter(inner: SpanExporter, counts: Counts, logger: Logger, where: string): SpanExporter {
  return {
    export(spans, done) {
      counts.queued = Math.max(0, counts.queued - spans.length);
      inner.export(spans, (result) => {
        if (result.code === sdk().core.ExportResultCode.SUCCESS) {
          counts.exported += spans.length;
          if (counts.failing) logger.info({ endpoint: where }, '[telemetry] spans are exported again');
          counts.failing = false;
        } else {
          counts.dropped += spans.length;
          // Once per outage, not per batch.
          if (!counts.failing)
            logger.warn(
              { endpoint: where, error: result.error?.message ?? null, spans: spans.length },
              '[telemetry] span export failed; spans are dropped until it works',
            );
          counts.failing = true;
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    ...(inner.forceFlush === undefined ? {} : { forceFlush: () => (inner.forceFlush as () => Promise<void>)() }),
  };
}

/** The traces URL: the key as given (with /v1/traces added to a bare base URL), else the exporter's own reading of OTEL_EXPORTER_OTLP_*. */
function tracesUrl(endpoint: string): string | undefined {
  if (endpoint === '') return undefined;
  return endpoint.endsWith('/v1/traces') ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/** The protocol: the key, else OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf (grpc is not served: protobuf). */
function protocolOf(settings: TelemetrySettings, logger: Logger): 'http/protobuf' | 'http/json' {
  if (settings.protocol !== '') return settings.protocol;
  const env = envString('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? envString('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (env === undefined || env === 'http/protobuf' || env === 'http/json') return env ?? 'http/protobuf';
  logger.warn({ protocol: env }, '[telemetry] only http/protobuf and http/json are served: exporting http/protobuf');
  return 'http/protobuf';
}

/**
 * The SDK's sampler: the parent-based ratio rule is applied before the SDK
 * is asked (spans.ts sampled), so what reaches it is sampled — one constant
 * answer, without the SDK's parent-based sampler checking the parent's ids again.
 */
function sampledSampler(): Sampler {
  const result = Object.freeze({ decision: sdk().trace.SamplingDecision.RECORD_AND_SAMPLED });
  return { shouldSample: () => result, toString: () => 'stonegate (sampled before the SDK is asked)' };
}

/** Sets up tracing from the settings and OTEL_* environment; the tracer provider, batch processor and OTLP exporter are built at the first sampled span. */
export function createTracing(settings: TelemetrySettings, logger: Logger): Tracing {
  const counts = new Counts();
  const url = tracesUrl(settings.otlp_endpoint);
  const protocol = protocolOf(settings, logger);
  const where = url ?? envString('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? envString('OTEL_EXPORTER_OTLP_ENDPOINT') ?? 'http://localhost:4318';
  const ratio = settings.sample_ratio ?? envNumber('OTEL_TRACES_SAMPLER_ARG') ?? 1;
  const serviceName = settings.service_name !== '' ? settings.service_name : (envString('OTEL_SERVICE_NAME') ?? 'stonegate');
  logger.info({ endpoint: where, protocol, sample_ratio: ratio, service_name: serviceName }, '[telemetry] tracing on');

  let provider: TracerProvider | undefined;
  let sdkTracer: Tracer | undefined;
  /** [speed] The SDK, built at the first sampled span (sdk.ts): the OTLP exporter itself waits for the first batch (lazy-exporter.ts). */
  const build = (): Tracer => {
    const { trace, resources } = sdk();
    const headers = Object.keys(settings.headers).length === 0 ? {} : { headers: { ...settings.headers } };
    const exporter = lazyOtlpExporter(protocol, { ...(url === undefined ? {} : { url }), ...headers });
    const max = settings.max_queue_size ?? envNumber('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048;
    // The SDK's batch defaults: one timer per batch, never per span.
    const batch = new trace.BatchSpanProcessor({
      exporter: countingExporter(exporter, counts, logger, where),
      maxQueueSize: max,
      maxExportBatchSize: Math.min(max, envNumber('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512),
      scheduledDelayMillis: envNumber('OTEL_BSP_SCHEDULE_DELAY') ?? 5000,
      exportTimeoutMillis: envNumber('OTEL_BSP_EXPORT_TIMEOUT') ?? 30_000,
    });
    const resource = resources
      .detectResources({ detectors: [resources.envDetector] })
      .merge(resources.resourceFromAttributes({ 'service.name': serviceName, 'service.version': VERSION }));
    provider = new trace.TracerProvider({
      resource,
      sampler: sampledSampler(),
      idGenerator: new PooledIds(),
      spanProcessors: [new CountingProcessor(batch, counts, max)],
    });
    sdkTracer = provider.getTracer('stonegate', VERSION);
    return sdkTracer;
  };
  const tracer = (): Tracer => sdkTracer ?? build();

  /** The spans of the requests in flight: an HTTP request's by its Request, an MCP request's by its AbortSignal. */
  const httpSpans = new WeakMap<object, RequestSpan>();
  const mcpSpans = new WeakMap<object, SpanHandle>();

  /** A server span in the caller's trace (`carrier`), or a new trace's: sampled (spans.ts) before this is asked. */
  const serverSpan = (name: string, carrier: TraceCarrier | undefined, attributes: OtelAttributes): Recorded =>
    new Recorded(tracer(), startSdkSpan(tracer(), name, { kind: sdk().kinds.server }, extract(carrier), attributes));

  const startHttp = (
    request: object | undefined,
    method: string,
    path: string,
    header: (name: string) => string | undefined,
    route?: string,
  ): RequestSpan | undefined => {
    // Streams and waits are not requests to time: an SSE GET, an async call's poll (GET /call/{id}), the log stream;
    // nor are probes and scrapes (an idle gateway's traffic, which would load the SDK: sdk.ts).
    if (
      (method === 'GET' && (path.startsWith('/call/') || PROBES.has(path) || (header('accept') ?? '').includes('text/event-stream'))) ||
      path === '/log/stream'
    )
      return undefined;
    const inbound = httpCarrier(header);
    if (LONG_POLLS.test(path)) return new RequestSpan(UNSAMPLED, method, { path, asked: performance.now(), inbound });
    let span: SpanHandle = UNSAMPLED;
    if (sampled(inbound, ratio)) {
      // A route known up front (the hot routes) names the span at once: no rename at its end.
      const { name, attributes } = route === undefined ? { name: method, attributes: httpAttributes(method, path) } : routeSpan(method, path, route);
      const server = serverSpan(name, inbound, attributes);
      // A REST call's request is that call: its routed call takes this span (no execute_tool span under it).
      if (method === 'POST' && path === '/call') server.takesCall = true;
      span = server;
    }
    const http = new RequestSpan(span, method, undefined, route);
    if (request !== undefined) {
      httpSpans.set(request, http);
      http.key = request;
    }
    return http;
  };

  const endHttp = (http: RequestSpan, route: string | undefined, status: number): void => {
    const { span, poll } = http;
    if (poll !== undefined) {
      if (!sampled(poll.inbound, ratio)) return;
      const attributes = {
        'http.request.method': http.method,
        'url.path': poll.path,
        'http.response.status_code': status,
        'stonegate.wait_ms': Math.round(performance.now() - poll.asked),
      };
      tracer().startSpan(`poll wake ${poll.path}`, { kind: sdk().api.SpanKind.SERVER, attributes }, extract(poll.inbound)).end();
      return;
    }
    if (!(span instanceof Recorded) || http.quiet) return;
    const otel = span.span;
    const routed = route !== undefined && route !== '*' && route !== '' && route !== http.route;
    if (routed) {
      // A merged span keeps the MCP request's name.
      if (!http.merged) otel.updateName(`${http.method} ${route}`);
      otel.setAttribute('http.route', route);
    }
    otel.setAttribute('http.response.status_code', status);
    if (status >= 500) otel.setStatus({ code: sdk().error });
    // A failed call's error code (an adopted call's, spans.ts) says more than its status.
    if (status >= 400 && !span.failed) otel.setAttribute('error.type', String(status));
    // Its MCP request has found it (merged): nothing looks it up again once it has ended.
    if (http.done() && http.merged) release(http, undefined);
  };

  /** [otel] A recorded request's entries, forgotten at its end (mcp-spans.ts Release): their values are not kept through scavenges. */
  const release = (http: RequestSpan | undefined, signal: object | undefined): void => {
    if (http?.key !== undefined) httpSpans.delete(http.key);
    if (http?.alias !== undefined) httpSpans.delete(http.alias);
    if (signal !== undefined) mcpSpans.delete(signal);
  };

  const startMcp = mcpSpanMaker(ratio, serverSpan, release);

  /** An SDK request handler with its MCP span (the span found by the request's signal, as the routed call looks for it). */
  const mcpHandler = (handler: Handler, info: ServerInfo): Handler => {
    return (request, ctx) => {
      const context = ctx as McpContext;
      const req = context?.http?.req;
      const signal = context?.mcpReq?.signal;
      const mcp = startMcp(req === undefined ? undefined : httpSpans.get(req), request, () => context?.sessionId ?? info.session(), info.client, signal);
      if (mcp === undefined) return handler(request, ctx);
      if (signal !== undefined) mcpSpans.set(signal, mcp.span);
      if (!mcp.span.recording) return handler(request, ctx);
      return handler(request, ctx).then(
        (result) => {
          mcp.end(result);
          return result;
        },
        (err: unknown) => {
          mcp.end(undefined, err ?? new Error('undefined'));
          throw err;
        },
      );
    };
  };

  return {
    startHttp,
    startMcp: (key, request, session, client, signal) => {
      const mcp = startMcp(key === undefined ? undefined : httpSpans.get(key), request, session, client, signal);
      // A routed call finds its parent by its request's signal (spanOf), as with the SDK's handlers (mcpHandler).
      if (mcp !== undefined && signal !== undefined) mcpSpans.set(signal, mcp.span);
      return mcp;
    },
    keyHttp: (span, key) => {
      httpSpans.set(key, span as RequestSpan);
      (span as RequestSpan).alias = key;
    },
    endHttp: (span, route, status) => endHttp(span as RequestSpan, route, status),
    async http(c: HonoContext, next: Next) {
      const span = startHttp(c.req.raw, c.req.method, c.req.path, (name) => c.req.header(name));
      if (span === undefined) return next();
      try {
        await next();
      } finally {
        endHttp(span, c.req.routePath, c.res.status);
      }
    },
    traceServer(server, info) {
      // The SDK's hook for wrapping registered handlers (Protocol._wrapHandler), and its fallback handler (tools/call).
      const target = server as {
        _wrapHandler: (method: string, handler: Handler) => Handler;
        fallbackRequestHandler?: Handler;
        _requestHandlers?: Map<string, Handler>;
      };
      const wrap = target._wrapHandler.bind(server);
      target._wrapHandler = (method, handler) => mcpHandler(wrap(method, handler), info);
      // initialize is registered by the Server's constructor, before this hook: its stored handler is wrapped here.
      const initialize = target._requestHandlers?.get('initialize');
      if (initialize !== undefined) target._requestHandlers?.set('initialize', mcpHandler(initialize, info));
      let fallback = target.fallbackRequestHandler === undefined ? undefined : mcpHandler(target.fallbackRequestHandler, info);
      Object.defineProperty(server, 'fallbackRequestHandler', {
        configurable: true,
        get: () => fallback,
        set: (h: Handler | undefined) => {
          fallback = h === undefined ? undefined : mcpHandler(h, info);
        },
      });
    },
    start(parent, carrier, linked, kind, describe, subject) {
      if (linked) {
        // An async call: a new trace (by sample_ratio), linked to its submitter.
        if (!sampled(undefined, ratio)) return UNSAMPLED;
        const { name, attributes } = describe(subject);
        const { api } = sdk();
        const submitter = carrier === undefined ? undefined : api.trace.getSpanContext(extract(carrier));
        const links: Link[] = submitter === undefined ? [] : [{ context: submitter, attributes: { 'stonegate.link': 'submitted_by' } }];
        const spanKind = kind === 'client' ? api.SpanKind.CLIENT : api.SpanKind.INTERNAL;
        return new Recorded(tracer(), startSdkSpan(tracer(), name, { kind: spanKind, links, root: true }, api.ROOT_CONTEXT, attributes));
      }
      if (parent !== undefined) {
        if (!(parent instanceof Recorded)) return UNSAMPLED;
        const { name, attributes } = describe(subject);
        // A routed call of the tool its tools/call MCP request names (by exposed name, or by tool name on /mcp/{server}) is that span;
        // so is the call of a REST POST /call.
        const tool = parent.tool;
        if (
          kind === 'internal' &&
          (parent.takesCall || (tool !== undefined && (tool === attributes['stonegate.exposed_name'] || tool === attributes['gen_ai.tool.name'])))
        )
          return new Adopted(parent, attributes);
        return parent.childOf(name, kind === 'client' ? sdk().kinds.client : sdk().kinds.internal, attributes);
      }
      if (!sampled(carrier, ratio)) return UNSAMPLED;
      const { name, attributes } = describe(subject);
      const spanKind = kind === 'client' ? sdk().kinds.client : sdk().kinds.internal;
      return new Recorded(tracer(), startSdkSpan(tracer(), name, { kind: spanKind }, extract(carrier), attributes));
    },
    spanOf(key) {
      return key === undefined ? undefined : (mcpSpans.get(key) ?? httpSpans.get(key)?.span);
    },
    counts,
    async shutdown() {
      // An unreachable collector must not hold the stop: the export gets a few seconds, then what is queued is dropped.
      if (provider === undefined) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([provider.shutdown().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 3000).unref()))]);
      clearTimeout(timer);
    },
  };
}
