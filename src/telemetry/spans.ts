import type { Context, Attributes as OtelAttributes, Span, SpanKind, SpanOptions, Tracer } from '@opentelemetry/api';
import { sdk } from './sdk.js';
import { type Attributes, type SpanAttributes, type SpanHandle, TRACEPARENT, type TraceCarrier } from './telemetry.js';

/*
 * [otel] The span handles of otel.ts, and the sampling decision. The active
 * span is carried explicitly (no context manager, no AsyncLocalStorage: on
 * Node 20 one adds work to every promise of the process): a request's span
 * is passed to what it calls, or found by its request (otel.ts spanOf).
 *
 * The decision is made here, before the SDK is asked, so that an unsampled
 * span costs nothing: no SDK span, no ids, no attribute objects — one
 * shared handle, UNSAMPLED. Its request is traced as with tracing off (the
 * caller's context passes on verbatim). The rule is the SDK's parent-based
 * ratio sampler's: a caller's context decides by its sampled flag, a new
 * trace by sample_ratio; the SDK then samples every span it is asked for.
 * The SDK itself (sdk.ts) is reached only for a sampled span.
 */

/** The performance.now() time origin, to turn a performance.now() reading into a span time. */
const ORIGIN = performance.timeOrigin;

/** The unsampled span: records nothing, its children are itself, it carries no context of its own. */
export const UNSAMPLED: SpanHandle = {
  recording: false,
  carrier: () => undefined,
  set: () => undefined,
  fail: () => undefined,
  child: () => UNSAMPLED,
  end: () => undefined,
};

/** The SDK's parent context for a caller's carrier (the root without a valid one). */
export function extract(carrier: TraceCarrier | undefined): Context {
  const { api, propagator, root } = sdk();
  return carrier === undefined ? root : propagator.extract(root, carrier, api.defaultTextMapGetter);
}

/**
 * Whether a span in `carrier`'s trace is sampled: by the caller's sampled
 * flag when it sends a valid context (W3C: version not ff, ids not all
 * zero), else as a new trace, with probability `ratio`.
 */
export function sampled(carrier: TraceCarrier | undefined, ratio: number): boolean {
  const traceparent = carrier?.traceparent;
  if (
    traceparent !== undefined &&
    TRACEPARENT.test(traceparent) &&
    !traceparent.startsWith('ff') &&
    !traceparent.startsWith('00000000000000000000000000000000', 3) &&
    !traceparent.startsWith('0000000000000000', 36)
  )
    return (Number.parseInt(traceparent.slice(53, 55), 16) & 1) === 1;
  return ratio >= 1 || (ratio > 0 && Math.random() < ratio);
}

/**
 * Starts an SDK span, then gives it its attributes: attributes in the
 * options of the SDK's startSpan are copied and checked twice (for the
 * sampler, then for the span) before the span checks them a third time; set
 * on the span they are checked once. The sampler (otel.ts) reads none.
 */
export function startSdkSpan(tracer: Tracer, name: string, options: SpanOptions, context: Context, attributes: OtelAttributes): Span {
  const span = tracer.startSpan(name, options, context);
  span.setAttributes(attributes);
  return span;
}

/** A recorded (sampled) span. Its context is formatted once, when first asked for. */
export class Recorded implements SpanHandle {
  readonly recording = true;
  /**
   * A `tools/call` MCP request's span (mcp-spans.ts): the tool it names, until
   * the routed call of that tool takes this span as its own (adopt).
   */
  tool: string | undefined;
  /** A `tools/call` MCP request's span: its `stonegate.client.name`, which the adopting call's `stonegate.caller` does not repeat. */
  client: string | undefined;
  /**
   * A REST `POST /call` span (otel.ts startHttp): the one routed call its
   * request makes takes it as its own too (adopt), as a `tools/call` MCP span.
   */
  takesCall = false;
  /** Whether fail() recorded an error on it (an adopted call's code is not overwritten by the MCP request's end). */
  failed = false;
  #carrier: TraceCarrier | undefined;
  /** The SDK context of this span as a parent, made once for all its children. */
  #context: Context | undefined;
  #ended = false;

  constructor(
    readonly tracer: Tracer,
    readonly span: Span,
  ) {}

  carrier(): TraceCarrier {
    if (this.#carrier === undefined) {
      const { traceId, spanId, traceState } = this.span.spanContext();
      const traceparent = `00-${traceId}-${spanId}-01`;
      const tracestate = traceState?.serialize();
      this.#carrier = tracestate === undefined || tracestate === '' ? { traceparent } : { traceparent, tracestate };
    }
    return this.#carrier;
  }

  set(attributes: Attributes): void {
    for (const key in attributes) {
      const value = attributes[key];
      if (value !== undefined) this.span.setAttribute(key, value);
    }
  }

  fail(type: string, message?: string): void {
    this.failed = true;
    this.span.setAttribute('error.type', type);
    const code = sdk().error;
    this.span.setStatus(message === undefined ? { code } : { code, message });
  }

  child(name: string, kind: 'client' | 'internal', attributes: SpanAttributes, startTime?: number): SpanHandle {
    const { kinds } = sdk();
    return this.childOf(name, kind === 'client' ? kinds.client : kinds.internal, attributes, startTime);
  }

  /** A child with attributes ready for the SDK. */
  childOf(name: string, kind: SpanKind, attributes: OtelAttributes, startTime?: number): Recorded {
    const options: SpanOptions = startTime === undefined ? { kind } : { kind, startTime: ORIGIN + startTime };
    if (this.#context === undefined) {
      const { api, root } = sdk();
      this.#context = api.trace.setSpan(root, this.span);
    }
    return new Recorded(this.tracer, startSdkSpan(this.tracer, name, options, this.#context, attributes));
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.span.end();
  }
}

/** The attributes a routed call does not set on the MCP span it adopts: that span names the tool as the client called it. */
const OWNED_BY_MCP = new Set(['gen_ai.tool.name', 'gen_ai.operation.name']);

/**
 * [otel] Whether a routed call's attribute only repeats what the MCP span it
 * adopts already says: its exposed name when the client called the tool by
 * it (`gen_ai.tool.name`), its caller when that is the session's client
 * (`stonegate.client.name`). Each attribute is set on the span, queued and
 * encoded twice by the OTLP protobuf serialiser (docs/tracing.md).
 */
function repeats(key: string, value: unknown, tool: string, client: string | undefined): boolean {
  return (key === 'stonegate.exposed_name' && value === tool) || (key === 'stonegate.caller' && value === client);
}

/**
 * [otel] A routed call's handle on the span of the request it serves: a
 * `tools/call` MCP span (the MCP semantic conventions: an MCP tool call span
 * is the tool execution span, and no separate execute_tool span is made under
 * it), or a REST `POST /call` span, whose request is that one call too. The
 * call's attributes, its outcome and its failure go on that span, its
 * children (pool wait, backend request) under it; the span ends with its
 * request, not with the call.
 */
export class Adopted implements SpanHandle {
  readonly recording = true;
  constructor(
    readonly owner: Recorded,
    attributes: OtelAttributes,
  ) {
    // An MCP span names the tool as the client called it; a POST /call span takes the call's names.
    const tool = owner.tool;
    owner.tool = undefined;
    owner.takesCall = false;
    for (const key in attributes) {
      const value = attributes[key];
      if (value !== undefined && !(tool !== undefined && (OWNED_BY_MCP.has(key) || repeats(key, value, tool, owner.client))))
        owner.span.setAttribute(key, value);
    }
  }
  carrier(): TraceCarrier {
    return this.owner.carrier();
  }
  set(attributes: Attributes): void {
    this.owner.set(attributes);
  }
  fail(type: string, message?: string): void {
    this.owner.fail(type, message);
  }
  child(name: string, kind: 'client' | 'internal', attributes: SpanAttributes, startTime?: number): SpanHandle {
    return this.owner.child(name, kind, attributes, startTime);
  }
  end(): void {
    // The request's end (mcp-spans.ts, otel.ts endHttp) ends the span.
  }
}

/** [otel] The inner map of `outer`'s `key`, made on first use; `outer` is emptied when it holds `max` keys (keys a client names stay bounded). */
export function innerMap<V>(outer: Map<string, Map<string, V>>, key: string, max: number): Map<string, V> {
  let inner = outer.get(key);
  if (inner === undefined) {
    if (outer.size >= max) outer.clear();
    inner = new Map();
    outer.set(key, inner);
  }
  return inner;
}
