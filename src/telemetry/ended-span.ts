import type { HrTime, Link, Attributes as OtelAttributes, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import { sdk } from './sdk.js';

/*
 * [otel] What an ended span keeps alive until its batch is exported: only
 * what the exporter reads. The SDK's span object holds more (its processor,
 * limits, clock offsets, a duration array, an end-metrics closure and its
 * context, empty link and event arrays, an UNSET status object of its own),
 * and an ended span waits in the batch processor's queue for up to a batch
 * (512 spans) or 5 s: long enough to outlive the young generation's
 * scavenges, which copy it (and may promote it) each time. So the queue
 * holds an EndedSpan instead (otel.ts CountingProcessor): the SDK span is
 * garbage as it ends, and one copied object of 15 fields stands for it,
 * sharing the span's context, times and attributes.
 */

const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];
const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];
/** The status of a span that set none (SpanStatusCode.UNSET). */
const UNSET: SpanStatus = Object.freeze({ code: 0 });

/** An ended span as the batch processor and the OTLP exporters read it (the SDK's ReadableSpan interface). */
export class EndedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly status: SpanStatus;
  readonly attributes: OtelAttributes;
  readonly links: Link[];
  readonly events: TimedEvent[];
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly droppedAttributesCount: number;
  readonly droppedEventsCount: number;
  readonly droppedLinksCount: number;
  readonly #context: SpanContext;

  constructor(span: ReadableSpan) {
    this.#context = span.spanContext();
    this.name = span.name;
    this.kind = span.kind;
    this.parentSpanContext = span.parentSpanContext;
    this.startTime = span.startTime;
    this.endTime = span.endTime;
    const { status } = span;
    this.status = status.code === 0 && status.message === undefined ? UNSET : status;
    this.attributes = span.attributes;
    this.links = span.links.length === 0 ? NO_LINKS : span.links;
    this.events = span.events.length === 0 ? NO_EVENTS : span.events;
    this.resource = span.resource;
    this.instrumentationScope = span.instrumentationScope;
    this.droppedAttributesCount = span.droppedAttributesCount;
    this.droppedEventsCount = span.droppedEventsCount;
    this.droppedLinksCount = span.droppedLinksCount;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  get ended(): boolean {
    return true;
  }

  /** Computed when asked (the OTLP exporters do not ask): not kept per span. */
  get duration(): HrTime {
    return sdk().core.hrTimeDuration(this.startTime, this.endTime);
  }
}
