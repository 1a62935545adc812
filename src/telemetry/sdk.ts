import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';
import type * as Core from '@opentelemetry/core';
import type * as Resources from '@opentelemetry/resources';
import type * as Trace from '@opentelemetry/sdk-trace';

/*
 * [otel] The OpenTelemetry SDK, loaded at the first sampled span ([speed]
 * #30: a tracing gateway that has traced nothing yet, or never samples,
 * holds none of it: core, resources, the trace SDK and the semantic
 * conventions they load, ~1.4 MB of heap and their code; the API is
 * loaded anyway, by prom-client). The
 * tracing modules import only its types; every value comes through sdk().
 *
 * The hooks that make spans are synchronous (the data path calls them
 * inline), so the packages are required, not imported: they are CommonJS
 * (their `exports` give node the same build/src files either way), and a
 * later import() of them (the OTLP exporter's, lazy-exporter.ts) finds
 * these very instances in node's module cache. The first sampled request
 * pays the load (docs/tracing.md, "What it costs").
 */

/** The OpenTelemetry packages tracing uses, and the W3C propagator made once. */
export interface Sdk {
  readonly api: typeof Api;
  readonly core: typeof Core;
  readonly resources: typeof Resources;
  readonly trace: typeof Trace;
  readonly propagator: Core.W3CTraceContextPropagator;
  /**
   * [otel] The API values read on every span, read once here: the API's
   * exports are getters (its CommonJS re-exports), a call each time.
   */
  readonly kinds: { readonly server: Api.SpanKind; readonly client: Api.SpanKind; readonly internal: Api.SpanKind };
  readonly root: Api.Context;
  readonly error: Api.SpanStatusCode;
}

let loaded: Sdk | undefined;

/** The SDK, loaded at the first call. */
export function sdk(): Sdk {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    const core = require('@opentelemetry/core') as typeof Core;
    const api = require('@opentelemetry/api') as typeof Api;
    const { SpanKind } = api;
    loaded = {
      api,
      core,
      resources: require('@opentelemetry/resources') as typeof Resources,
      trace: require('@opentelemetry/sdk-trace') as typeof Trace,
      propagator: new core.W3CTraceContextPropagator(),
      kinds: { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL },
      root: api.ROOT_CONTEXT,
      error: api.SpanStatusCode.ERROR,
    };
  }
  return loaded;
}

/** Whether sdk() has loaded the packages (a test's and the bench's view). */
export function sdkLoaded(): boolean {
  return loaded !== undefined;
}

/** An OTEL_* variable as the SDK reads it (@opentelemetry/core getStringFromEnv): unset, empty or blank is undefined. */
export function envString(key: string): string | undefined {
  const raw = process.env[key];
  return raw === undefined || raw.trim() === '' ? undefined : raw;
}

/** An OTEL_* number as the SDK reads it (getNumberFromEnv): undefined when unset, blank or not a number. */
export function envNumber(key: string): number | undefined {
  const raw = envString(key);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  return Number.isNaN(value) ? undefined : value;
}
