import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import {
  type Context,
  createContextKey,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { ExportResultCode, getNumberFromEnv, getStringFromEnv, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Span as SdkSpan,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Context as HonoContext, MiddlewareHandler, Next } from 'hono';
import type { TelemetrySettings } from '../config/telemetry-schema.js';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';
import type { Attributes, ServerInfo, SpanHandle, TraceCarrier, Tracing } from './telemetry.js';

/*
 * [otel] The OpenTelemetry SDK behind tracing(): loaded only when
 * [telemetry] enabled = true (telemetry.ts imports this file dynamically).
 *
 * The active span travels in an AsyncLocalStorage of this module's own (no
 * global context manager): the HTTP server span, then the MCP method span,
 * are active while their request's handlers run, and a routed call's span
 * is their child. The call's own children (pool wait, the backend request)
 * are made from its handle, explicitly.
 */

const propagator = new W3CTraceContextPropagator();
/** Set on an HTTP request's context: the request turned out to be a poll, and its span is not recorded. */
const QUIET = createContextKey('stonegate.http.quiet');

/** MCP requests that are polls or waits: no span, and their HTTP request's span is dropped too. */
const QUIET_METHODS = new Set(['ping', 'tasks/get', 'tasks/result', 'tasks/list', 'subscriptions/listen']);
const QUIET_TOOLS = new Set(['gate_poll', 'gate_await']);
/** Long polls (wait for an event): no server span; a zero-length `poll wake` span when one answers. */
const LONG_POLLS = /^\/coord\/(msg\/poll|agent\/wait)$/;

type Handler = (request: { method: string; id?: unknown; params?: Record<string, unknown> }, ctx: unknown) => Promise<unknown>;

/** Export results counted: spans dropped (queue full, export failed) and exported. */
class Counts {
  dropped = 0;
  exported = 0;
  queued = 0;
  failing = false;
}

/** The batch processor, counting what it drops for a full queue (as it decides: spans waiting ≥ maxQueueSize). */
class CountingProcessor implements SpanProcessor {
  constructor(
    private readonly inner: BatchSpanProcessor,
    private readonly counts: Counts,
    private readonly max: number,
  ) {}
  onStart(span: SdkSpan, parent: Context): void {
    this.inner.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) {
      if (this.counts.queued >= this.max) this.counts.dropped += 1;
      else this.counts.queued += 1;
    }
    this.inner.onEnd(span);
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
        if (result.code === ExportResultCode.SUCCESS) {
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
  const env = getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? getStringFromEnv('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (env === undefined || env === 'http/protobuf' || env === 'http/json') return env ?? 'http/protobuf';
  logger.warn({ protocol: env }, '[telemetry] only http/protobuf and http/json are served: exporting http/protobuf');
  return 'http/protobuf';
}

function carrierOf(ctx: Context): TraceCarrier {
  const out: Record<string, string> = {};
  propagator.inject(ctx, out, defaultTextMapSetter);
  return out;
}

function extract(carrier: TraceCarrier | undefined): Context {
  return carrier === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
}

function clean(attributes: Attributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) out[key] = value;
  return out;
}

/**
 * A session as spans name it: the first 16 hex digits of the SHA-256 of its
 * id. The id itself would let whoever reads the traces post into the
 * session (its owner's token is still needed, but the id is not the
 * tracing system's to hold).
 */
function sessionTag(id: string | undefined): string | undefined {
  return id === undefined ? undefined : createHash('sha256').update(id).digest('hex').slice(0, 16);
}

/** The performance.now() time origin, to turn a performance.now() reading into a span time. */
const ORIGIN = performance.timeOrigin;

/** Builds the tracer provider, the batch processor and the OTLP exporter from the settings and OTEL_* environment. */
export function createTracing(settings: TelemetrySettings, logger: Logger): Tracing {
  const counts = new Counts();
  const url = tracesUrl(settings.otlp_endpoint);
  const protocol = protocolOf(settings, logger);
  const headers = Object.keys(settings.headers).length === 0 ? {} : { headers: { ...settings.headers } };
  const options = { ...(url === undefined ? {} : { url }), ...headers };
  const exporter = protocol === 'http/json' ? new JsonExporter(options) : new ProtobufExporter(options);
  const where = url ?? getStringFromEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? getStringFromEnv('OTEL_EXPORTER_OTLP_ENDPOINT') ?? 'http://localhost:4318';
  const max = settings.max_queue_size ?? getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048;
  const batch = new BatchSpanProcessor({
    exporter: countingExporter(exporter, counts, logger, where),
    maxQueueSize: max,
    maxExportBatchSize: Math.min(max, getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512),
    scheduledDelayMillis: getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY') ?? 5000,
    exportTimeoutMillis: getNumberFromEnv('OTEL_BSP_EXPORT_TIMEOUT') ?? 30_000,
  });
  const ratio = settings.sample_ratio ?? getNumberFromEnv('OTEL_TRACES_SAMPLER_ARG') ?? 1;
  const serviceName = settings.service_name !== '' ? settings.service_name : (getStringFromEnv('OTEL_SERVICE_NAME') ?? 'stonegate');
  const resource = detectResources({ detectors: [envDetector] }).merge(resourceFromAttributes({ 'service.name': serviceName, 'service.version': VERSION }));
  const provider = new TracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
    spanProcessors: [new CountingProcessor(batch, counts, max)],
  });
  const tracer = provider.getTracer('stonegate', VERSION);
  const store = new AsyncLocalStorage<Context>();
  const activeContext = (): Context => store.getStore() ?? ROOT_CONTEXT;
  logger.info({ endpoint: where, protocol, sample_ratio: ratio, service_name: serviceName }, '[telemetry] tracing on');

  const handle = (span: Span, ctx: Context): SpanHandle => {
    let ended = false;
    return {
      traceId: span.spanContext().traceId,
      carrier: () => carrierOf(ctx),
      set: (attributes) => span.setAttributes(clean(attributes)),
      fail: (type, message) => {
        span.setAttribute('error.type', type);
        span.setStatus({ code: SpanStatusCode.ERROR, ...(message === undefined ? {} : { message }) });
      },
      child: (name, kind, attributes, startTime) => {
        const child = tracer.startSpan(
          name,
          {
            kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL,
            attributes: clean(attributes),
            ...(startTime === undefined ? {} : { startTime: ORIGIN + startTime }),
          },
          ctx,
        );
        return handle(child, trace.setSpan(ctx, child));
      },
      end: () => {
        if (ended) return;
        ended = true;
        span.end();
      },
    };
  };

  const http: MiddlewareHandler = async (c: HonoContext, next: Next) => {
    const path = c.req.path;
    const method = c.req.method;
    // Streams and waits are not requests to time: an SSE GET, an async call's poll (GET /call/{id}), a long poll.
    if ((method === 'GET' && ((c.req.header('accept') ?? '').includes('text/event-stream') || path.startsWith('/call/'))) || path === '/log/stream')
      return next();
    const parent = extract({ traceparent: c.req.header('traceparent') ?? '', tracestate: c.req.header('tracestate') ?? '' });
    if (LONG_POLLS.test(path)) {
      const asked = performance.now();
      await next();
      const woke = tracer.startSpan(
        `poll wake ${path}`,
        { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path, 'stonegate.wait_ms': Math.round(performance.now() - asked) } },
        parent,
      );
      woke.setAttribute('http.response.status_code', c.res.status);
      woke.end();
      return;
    }
    const span = tracer.startSpan(
      method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path, 'url.scheme': 'http' } },
      parent,
    );
    const quiet = { quiet: false };
    try {
      await store.run(trace.setSpan(parent, span).setValue(QUIET, quiet), next);
    } finally {
      if (!quiet.quiet) {
        const route = c.req.routePath;
        span.updateName(route === '*' || route === '' ? method : `${method} ${route}`);
        if (route !== '*' && route !== '') span.setAttribute('http.route', route);
        span.setAttribute('http.response.status_code', c.res.status);
        if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        if (c.res.status >= 400) span.setAttribute('error.type', String(c.res.status));
        span.end();
      }
    }
  };

  const mcpHandler = (handler: Handler, info: ServerInfo): Handler => {
    return (request, ctx) => {
      const method = request.method;
      const params = request.params;
      const name = typeof params?.name === 'string' ? params.name : undefined;
      if (QUIET_METHODS.has(method) || (method === 'tools/call' && name !== undefined && QUIET_TOOLS.has(name))) {
        const quiet = store.getStore()?.getValue(QUIET) as { quiet: boolean } | undefined;
        if (quiet !== undefined) quiet.quiet = true;
        return handler(request, ctx);
      }
      // The MCP semantic conventions: a context in params._meta is the parent; else the HTTP request's span.
      const meta = params?._meta as Record<string, unknown> | undefined;
      const parent = typeof meta?.traceparent === 'string' ? extract(meta as TraceCarrier) : activeContext();
      const tool = method === 'tools/call' ? name : undefined;
      const prompt = method === 'prompts/get' ? name : undefined;
      const span = tracer.startSpan(
        name === undefined ? method : `${method} ${name}`,
        {
          kind: SpanKind.SERVER,
          attributes: clean({
            'mcp.method.name': method,
            'jsonrpc.request.id': request.id === undefined ? undefined : String(request.id),
            'mcp.session.id': sessionTag((ctx as { sessionId?: string } | undefined)?.sessionId ?? info.session()),
            'stonegate.client.name': info.client(),
            'gen_ai.tool.name': tool,
            'gen_ai.operation.name': tool === undefined ? undefined : 'execute_tool',
            'gen_ai.prompt.name': prompt,
            'mcp.resource.uri': method === 'resources/read' && typeof params?.uri === 'string' ? params.uri : undefined,
          }),
        },
        parent,
      );
      return store
        .run(trace.setSpan(parent, span), () => handler(request, ctx))
        .then(
          (result) => {
            if ((result as { isError?: unknown } | undefined)?.isError === true) span.setAttribute('error.type', 'tool_error');
            span.end();
            return result;
          },
          (err: unknown) => {
            const code = (err as { code?: unknown }).code;
            span.setAttribute('error.type', code === undefined ? 'error' : String(code));
            span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
            span.end();
            throw err;
          },
        );
    };
  };

  return {
    http,
    traceServer(server, info) {
      // The SDK's hook for wrapping registered handlers (Protocol._wrapHandler), and its fallback handler (tools/call).
      const target = server as { _wrapHandler: (method: string, handler: Handler) => Handler; fallbackRequestHandler?: Handler };
      const wrap = target._wrapHandler.bind(server);
      target._wrapHandler = (method, handler) => mcpHandler(wrap(method, handler), info);
      let fallback = target.fallbackRequestHandler === undefined ? undefined : mcpHandler(target.fallbackRequestHandler, info);
      Object.defineProperty(server, 'fallbackRequestHandler', {
        configurable: true,
        get: () => fallback,
        set: (h: Handler | undefined) => {
          fallback = h === undefined ? undefined : mcpHandler(h, info);
        },
      });
    },
    call(name, attributes, carrier, linked) {
      let parent: Context;
      let links: Link[] = [];
      if (linked) {
        parent = ROOT_CONTEXT;
        const submitter = carrier === undefined ? undefined : trace.getSpanContext(extract(carrier));
        if (submitter !== undefined) links = [{ context: submitter, attributes: { 'stonegate.link': 'submitted_by' } }];
      } else {
        parent = store.getStore() ?? extract(carrier);
      }
      const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes: clean(attributes), links, root: linked }, parent);
      return handle(span, trace.setSpan(parent, span));
    },
    span(name, attributes, kind) {
      const parent = activeContext();
      const span = tracer.startSpan(name, { kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes: clean(attributes) }, parent);
      return handle(span, trace.setSpan(parent, span));
    },
    capture() {
      const ctx = store.getStore();
      return ctx === undefined || trace.getSpan(ctx) === undefined ? undefined : carrierOf(ctx);
    },
    counts,
    async shutdown() {
      // An unreachable collector must not hold the stop: the export gets a few seconds, then what is queued is dropped.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([provider.shutdown().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 3000).unref()))]);
      clearTimeout(timer);
    },
  };
}
