import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { sdk } from './sdk.js';

/** What the OTLP exporters take here: the traces URL and headers ([telemetry]), else their OTEL_EXPORTER_OTLP_* reading. */
export interface OtlpOptions {
  url?: string;
  headers?: Record<string, string>;
}

/**
 * The OTLP exporter of `protocol`, loaded when the first batch leaves
 * ([speed] #30: an idle gateway with tracing on never loads the exporter,
 * its transport or the protobuf serialiser; ~1.4 MB of idle RSS). Export
 * order is kept: every batch waits for the same load.
 */
export function lazyOtlpExporter(protocol: 'http/protobuf' | 'http/json', options: OtlpOptions): SpanExporter {
  let loading: Promise<SpanExporter> | undefined;
  const load = (): Promise<SpanExporter> => {
    loading ??= (protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto')).then(
      ({ OTLPTraceExporter }) => new OTLPTraceExporter(options),
    );
    return loading;
  };
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      load().then(
        (exporter) => exporter.export(spans, done),
        (error: unknown) => done({ code: sdk().core.ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) }),
      );
    },
    async shutdown(): Promise<void> {
      if (loading !== undefined) await (await loading).shutdown();
    },
    async forceFlush(): Promise<void> {
      if (loading !== undefined) await (await loading).forceFlush?.();
    },
  };
}
