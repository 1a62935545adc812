import { afterEach, describe, expect, it } from 'vitest';
import type { Tracing } from '../../src/telemetry/telemetry.js';
import { eventually } from '../helpers/harness.js';
import { type OtlpReceiver, startReceiver, tracingTo } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel], what tracing costs: the spans of the requests in flight
 * are found by their request (an HTTP span) and their signal (an MCP span)
 * in WeakMaps (src/telemetry/otel.ts). A WeakMap's entry keeps its value
 * through the young generation's scavenges after its key is garbage, until
 * a collection clears it: a /mcp tool call's spans, SDK objects and all,
 * were copied by the next scavenges (in process, under a gateway-like
 * allocation load: 2.1 KB of new-space survivors a call against 0.8 KB
 * once forgotten). So a recorded request's entries are deleted at its end.
 */

let receiver: OtlpReceiver | undefined;
let tracing: Tracing | undefined;

afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
  await receiver?.close();
  receiver = undefined;
});

const CALL = {
  name: 'execute_tool echo',
  attributes: { 'gen_ai.tool.name': 'echo', 'stonegate.server': 'demo', 'stonegate.exposed_name': 'demo__echo' },
};

/** A POST /mcp tool call as the lean path traces it: its HTTP span keyed by its request (and the raw Request), its MCP span by its signal. */
function call(running: Tracing, id: number, httpFirst: boolean): { request: object; raw: object; signal: object; found: boolean[] } {
  const request = {};
  const raw = {};
  const signal = {};
  const http = running.startHttp(request, 'POST', '/mcp', () => undefined, '/mcp');
  if (http === undefined) throw new Error('no HTTP span');
  running.keyHttp(http, raw);
  const mcp = running.startMcp(
    raw,
    { method: 'tools/call', id, params: { name: 'demo__echo' } },
    () => undefined,
    () => 'agent',
    signal,
  );
  if (mcp === undefined) throw new Error('no MCP span');
  const routed = running.start(running.spanOf(signal), undefined, false, 'internal', () => CALL, 0);
  routed.child('tools/call echo', 'client', { 'network.transport': 'pipe' }).end();
  routed.end();
  const found = [running.spanOf(signal) === mcp.span, running.spanOf(request) === mcp.span, running.spanOf(raw) === mcp.span];
  if (httpFirst) {
    running.endHttp(http, '/mcp', 200);
    // The HTTP answer is written, the MCP request not yet done: its span is still found by its signal.
    found.push(running.spanOf(signal) === mcp.span);
    mcp.end({ content: [] });
  } else {
    mcp.end({ content: [] });
    running.endHttp(http, '/mcp', 200);
  }
  return { request, raw, signal, found };
}

describe('[otel] a finished request’s span', () => {
  it('is no longer found by its request or its signal, whichever of its HTTP answer and its MCP request ends last', async () => {
    const sink = await startReceiver();
    receiver = sink;
    const running = tracingTo(sink.url);
    tracing = running;
    for (const [id, httpFirst] of [
      [1, false],
      [2, true],
    ] as const) {
      const { request, raw, signal, found } = call(running, id, httpFirst);
      expect(found.every(Boolean)).toBe(true);
      expect(running.spanOf(signal)).toBeUndefined();
      expect(running.spanOf(request)).toBeUndefined();
      expect(running.spanOf(raw)).toBeUndefined();
      // Still one span for the POST, its MCP request and its call, and the backend request's under it.
      const span = await eventually(() => sink.spans.find((s) => s.attributes['jsonrpc.request.id'] === String(id)));
      expect(span).toMatchObject({ name: 'tools/call demo__echo' });
      expect(span.attributes).toMatchObject({ 'http.route': '/mcp', 'http.response.status_code': 200, 'stonegate.server': 'demo' });
      const client = await eventually(() => sink.spans.find((s) => s.parentSpanId === span.spanId));
      expect(client).toMatchObject({ name: 'tools/call echo' });
    }
  });
});
