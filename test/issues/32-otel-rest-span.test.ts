import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { type OtlpReceiver, type ReceivedSpan, startReceiver } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel], the cost at sample_ratio 1.0: a REST `POST /call` is one
 * routed call, so its server span is the call's span too (as a `tools/call`
 * MCP span is, 32-otel-tool-span): the call's attributes go on it, and a
 * REST call is two spans (the POST, the backend request), not three. A
 * failed call's error code stays on that span over its HTTP status.
 */

const SERVER = 2;
const CLIENT = 3;
let receiver: OtlpReceiver;
let gw: RunningGateway;

beforeAll(async () => {
  receiver = await startReceiver();
  gw = await startGateway(`[telemetry]\nenabled = true\notlp_endpoint = ${q(receiver.url)}\n${demoBackend()}`, { env: { OTEL_BSP_SCHEDULE_DELAY: '50' } });
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
}, 60_000);
afterEach(() => {
  receiver.spans.length = 0;
});
afterAll(async () => {
  await stopAll();
  await receiver.close();
});

async function call(tool: string, traceId: string): Promise<number> {
  const response = await fetch(`${gw.url}/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-1111111111111111-01` },
    body: JSON.stringify({ server: 'demo', tool, arguments: { text: 'hi' } }),
  });
  await response.arrayBuffer();
  return response.status;
}

function inTrace(traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.traceId === traceId);
}

describe('[otel] a REST call’s span is its POST’s', () => {
  it('two spans: POST /call (server, with the call’s attributes) and the backend request under it', async () => {
    const traceId = 'aa'.repeat(16);
    expect(await call('echo', traceId)).toBe(200);
    const client = await eventually(() => inTrace(traceId).find((s) => s.kind === CLIENT));
    const server = await eventually(() => inTrace(traceId).find((s) => s.kind === SERVER));
    expect(server).toMatchObject({ name: 'POST /call', parentSpanId: '1111111111111111' });
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/call',
      'http.response.status_code': 200,
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'echo',
      'stonegate.server': 'demo',
      'stonegate.exposed_name': 'demo__echo',
      'stonegate.outcome': 'success',
      'stonegate.attempt': 1,
      'stonegate.breaker_state': 'closed',
    });
    expect(client).toMatchObject({ name: 'tools/call echo', parentSpanId: server.spanId });
    expect(inTrace(traceId).map((s) => s.name)).not.toContain('execute_tool echo');
    // (A `pool acquire` span too when the call waited 1 ms or more for a connection: a loaded machine.)
    expect(inTrace(traceId).filter((s) => s.name !== 'pool acquire')).toHaveLength(2);
  });

  it('a failed call: its error code on the span, not its HTTP status', async () => {
    const traceId = 'bb'.repeat(16);
    expect(await call('no_such_tool', traceId)).toBe(404);
    const server = await eventually(() => inTrace(traceId).find((s) => s.kind === SERVER && s.attributes['stonegate.outcome'] !== undefined));
    expect(server.name).toBe('POST /call');
    expect(server.attributes).toMatchObject({ 'error.type': 'UNKNOWN_TOOL', 'stonegate.outcome': 'error', 'http.response.status_code': 404 });
  });
});
