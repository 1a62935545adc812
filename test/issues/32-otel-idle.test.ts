import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { demoBackend, eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { type OtlpReceiver, startReceiver } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel], idle RSS with tracing on (#30's target): a tracing
 * gateway loads the OpenTelemetry SDK (@opentelemetry/core, resources,
 * sdk-trace and the semantic conventions they load) at its first sampled
 * span, not at start (src/telemetry/sdk.ts); at sample_ratio 0 a call
 * without a sampled context never loads it. That first traced request is
 * traced in full, in the caller's trace.
 */

const TRACE_ID = '5ce0e9a56015fec5aadfa328ae398115';
const SAMPLED = `00-${TRACE_ID}-ab42124a3c573678-01`;
const NOT_SAMPLED = `00-${TRACE_ID}-ab42124a3c573678-00`;

let receiver: OtlpReceiver | undefined;
afterEach(async () => {
  await stopAll();
  await receiver?.close();
  receiver = undefined;
});
afterAll(stopAll);

/** A tracing gateway (one demo backend) whose every loaded module URL goes to `log`; once its backend is ready. */
async function tracingGateway(ratio: string, log: string): Promise<RunningGateway> {
  receiver = await startReceiver();
  writeFileSync(log, '');
  const gw = await startGateway(`[telemetry]\nenabled = true\notlp_endpoint = ${q(receiver.url)}\nsample_ratio = ${ratio}\n${demoBackend()}`, {
    env: { STONEGATE_LOAD_LOG: log, NODE_OPTIONS: `--import ${fixture('load-watch')}`, OTEL_BSP_SCHEDULE_DELAY: '50' },
  });
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
  return gw;
}

/** The OpenTelemetry SDK's files the gateway has loaded (not the API: prom-client loads it, tracing off too). */
function otelFiles(log: string): string[] {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((url) => url.includes('/node_modules/@opentelemetry/') && !url.includes('/@opentelemetry/api/'));
}

async function call(gw: RunningGateway, traceparent?: string): Promise<number> {
  const response = await fetch(`${gw.url}/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(traceparent === undefined ? {} : { traceparent }) },
    body: JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'traced' } }),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('#32 the OpenTelemetry SDK loads at the first sampled span', () => {
  it('sample_ratio 1.0: none of it at idle; the first call loads it and is traced', async () => {
    const log = join(tmpdir(), `stonegate-otel-idle-${process.pid}.log`);
    const gw = await tracingGateway('1.0', log);
    expect(readFileSync(log, 'utf8')).toContain('/dist/src/telemetry/otel.js'); // tracing is on
    expect(otelFiles(log)).toEqual([]);
    // Probes and scrapes are not traced: they leave an idle gateway without the SDK.
    expect((await fetch(`${gw.url}/health`, { headers: { traceparent: SAMPLED } })).status).toBe(200);
    expect((await gw.request('GET', '/metrics')).status).toBe(200);
    expect(otelFiles(log)).toEqual([]);
    expect(await call(gw)).toBe(200);
    expect(otelFiles(log).some((url) => url.includes('/@opentelemetry/sdk-trace/'))).toBe(true);
    const spans = await eventually(() => {
      const names = receiver?.spans.map((s) => s.name) ?? [];
      return names.includes('tools/call echo') && names.includes('POST /call') && receiver?.spans;
    });
    const server = spans.find((s) => s.name === 'POST /call');
    expect(server?.attributes['stonegate.server']).toBe('demo');
    expect(spans.find((s) => s.name === 'tools/call echo')?.parentSpanId).toBe(server?.spanId);
  });

  it('sample_ratio 0: calls without a sampled context never load it; the first sampled one does, in its trace', async () => {
    const log = join(tmpdir(), `stonegate-otel-idle-0-${process.pid}.log`);
    const gw = await tracingGateway('0', log);
    expect(await call(gw)).toBe(200);
    expect(await call(gw, NOT_SAMPLED)).toBe(200);
    expect(otelFiles(log)).toEqual([]);
    expect(await call(gw, SAMPLED)).toBe(200);
    expect(otelFiles(log).some((url) => url.includes('/@opentelemetry/sdk-trace/'))).toBe(true);
    const server = await eventually(() => receiver?.spans.find((s) => s.name === 'POST /call'));
    expect(server.traceId).toBe(TRACE_ID);
    expect(server.parentSpanId).toBe('ab42124a3c573678');
  });
});
