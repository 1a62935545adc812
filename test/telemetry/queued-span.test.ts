import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import type { TelemetrySettings } from '../../src/config/telemetry-schema.js';
import { silentLogger } from '../../src/log.js';
import { createTracing } from '../../src/telemetry/otel.js';
import type { SpanAttributes, Tracing } from '../../src/telemetry/telemetry.js';

/*
 * Issue #32 [otel], what tracing costs: an ended span waits in the batch
 * processor's queue until its batch leaves (up to 512 spans, or 5 s), long
 * enough to outlive the gateway's young-generation scavenges, each of which
 * copies what it keeps alive. So what a queued span keeps alive is measured
 * here: the heap a queue of a /mcp tool call's spans holds (the POST, MCP
 * request and call in one span; the backend request), per span. The SDK's
 * own span object held ~1,020 bytes each (its processor and limits, clock
 * offsets, a duration array, an end-metrics closure and its context, empty
 * link and event arrays, a status object); what the exporter reads is about
 * half of that (src/telemetry/ended-span.ts).
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CALL = {
  name: 'execute_tool echo',
  attributes: {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': 'echo',
    'stonegate.server': 'demo',
    'stonegate.exposed_name': 'demo__echo',
    'stonegate.caller': 'queued-span-test',
  },
};
const CLIENT: SpanAttributes = {
  'stonegate.server': 'demo',
  'network.transport': 'pipe',
  'mcp.method.name': 'tools/call',
  'gen_ai.tool.name': 'echo',
  'process.pid': process.pid,
};
const PARAMS = { name: 'demo__echo', arguments: {} };

/** The spans of one POST /mcp tools/call, as the lean path makes them (as the telemetry bench's in-process rows do). */
function mcpCall(tracing: Tracing, id: number): void {
  const request = {};
  const signal = {};
  const http = tracing.startHttp(request, 'POST', '/mcp', () => undefined, '/mcp');
  const mcp = tracing.startMcp(
    request,
    { method: 'tools/call', id, params: PARAMS },
    () => 'session',
    () => 'queued-span-test',
    signal,
  );
  const call = tracing.start(tracing.spanOf(signal), undefined, false, 'internal', () => CALL, 'echo');
  call.set({ 'stonegate.pool.wait_ms': (id % 100) / 100 });
  const client = call.child('tools/call echo', 'client', CLIENT);
  client.carrier();
  client.end();
  call.set({ 'stonegate.outcome': 'success', 'stonegate.attempt': 1, 'stonegate.breaker_state': 'closed' });
  call.end();
  mcp?.end({ content: [] });
  if (http !== undefined) tracing.endHttp(http, '/mcp', 200);
}

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
      for (let i = 0; i < 200; i += 1) mcpCall(tracing, i);
      gc();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < CALLS; i += 1) mcpCall(tracing, i);
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
