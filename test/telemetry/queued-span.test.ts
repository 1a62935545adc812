import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { mcpCallSpans } from '../../bench/benches/telemetry.js';
import type { TelemetrySettings } from '../../src/config/telemetry-schema.js';
import { silentLogger } from '../../src/log.js';
import { createTracing } from '../../src/telemetry/otel.js';

/*
 * Issue #32 [otel], what tracing costs: an ended span waits in the batch
 * processor's queue until its batch leaves (up to 512 spans, or 5 s), long
 * enough to outlive the gateway's young-generation scavenges, each of which
 * copies what it keeps alive. So what a queued span keeps alive is measured
 * here: the heap a queue of /mcp tool calls' spans holds (the POST, MCP
 * request and call in one span; the backend request: the telemetry bench's
 * in-process /mcp call), per span. The SDK's own span object held ~1,040
 * bytes each (its processor and limits, clock offsets, a duration array, an
 * end-metrics closure and its context, empty link and event arrays, a status
 * object); what the exporter reads is about 570 (src/telemetry/ended-span.ts).
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CALLS = 5000;
const saved = { delay: process.env.OTEL_BSP_SCHEDULE_DELAY, batch: process.env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE };
afterAll(() => {
  for (const [key, value] of [
    ['OTEL_BSP_SCHEDULE_DELAY', saved.delay],
    ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', saved.batch],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe('[otel] a queued span', () => {
  it('keeps alive only what the exporter reads: under 780 bytes of heap per span waiting for its batch', async () => {
    // One batch as large as the run, never due: every span stays queued while the heap is read.
    process.env.OTEL_BSP_SCHEDULE_DELAY = '3600000';
    process.env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE = String(CALLS * 4);
    const settings = {
      enabled: true,
      otlp_endpoint: 'http://127.0.0.1:9',
      protocol: '',
      headers: {},
      service_name: '',
      sample_ratio: 1,
      max_queue_size: CALLS * 4,
    };
    const tracing = createTracing(settings as unknown as TelemetrySettings, silentLogger());
    try {
      // Warm: the SDK loaded, the memos made, the code compiled.
      for (let i = 0; i < 200; i += 1) mcpCallSpans(tracing);
      gc();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < CALLS; i += 1) mcpCallSpans(tracing);
      gc();
      gc();
      const perSpan = (process.memoryUsage().heapUsed - before) / (CALLS * 2);
      expect(perSpan).toBeGreaterThan(100);
      expect(perSpan).toBeLessThan(780);
    } finally {
      await tracing.shutdown();
    }
  });
});
