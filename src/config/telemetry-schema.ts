import { z } from 'zod';

/*
 * [otel] [telemetry]: OpenTelemetry tracing (docs/tracing.md). Off by
 * default; off means no OpenTelemetry SDK or exporter is loaded at all.
 * Unset keys fall back to the standard OTEL_* environment variables
 * (read when tracing starts: src/telemetry/start.ts), then to the defaults
 * documented there.
 */

/** An http(s) URL of an OTLP/HTTP receiver, or "" for the OTEL_EXPORTER_OTLP_* environment (else http://localhost:4318). */
const endpoint = z.string().refine((value) => {
  if (value === '') return true;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}, 'an http:// or https:// URL of an OTLP/HTTP receiver (the Collector listens on :4318), or "" for the OTEL_EXPORTER_OTLP_ENDPOINT environment variable');

export const TelemetrySchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    otlp_endpoint: endpoint.default(''),
    // "" = OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf.
    protocol: z.enum(['', 'http/protobuf', 'http/json']).default(''),
    // Sent with every export (a vendor's API key: use ${ENV_VAR}); redacted in GET /config. Beside OTEL_EXPORTER_OTLP_HEADERS.
    headers: z.record(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'an HTTP header name'), z.string()).default({}),
    // "" = OTEL_SERVICE_NAME, else "stonegate".
    service_name: z.string().default(''),
    // Parent-based ratio sampler: a request with a sampled parent is traced whatever the ratio. Unset: OTEL_TRACES_SAMPLER_ARG, else 1.
    sample_ratio: z.number().min(0).max(1).optional(),
    // Spans waiting for export; past it new spans are dropped (counted in /metrics). Unset: OTEL_BSP_MAX_QUEUE_SIZE, else 2048.
    max_queue_size: z.number().int().min(1).max(1_000_000).optional(),
  })
  .prefault({});

export type TelemetrySettings = z.infer<typeof TelemetrySchema>;
