import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { type OtlpReceiver, startReceiver } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel], fewer spans per call: a POST /mcp carrying one MCP
 * request without its own `_meta` context is one server span — named by
 * the MCP request, with the HTTP attributes and the MCP ones — instead of
 * an HTTP span and an MCP span under it (docs/tracing.md, "Spans"); and
 * the routed call of the tool it names adds its attributes to that span
 * instead of an execute_tool span under it: two spans for the call.
 */

const TRACE_ID = '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a';
const PARENT = 'c0c0c0c0c0c0c0c0';
const SERVER = 2;
const CLIENT = 3;
const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

async function gateway(receiver: OtlpReceiver): Promise<RunningGateway> {
  const gw = await startGateway(
    `[[backends]]\nname = "echo"\ncommand = "node"\nargs = [${q(fixture('meta-echo-server'))}]\n\n[telemetry]\nenabled = true\notlp_endpoint = ${q(receiver.url)}\nprotocol = "http/json"\n`,
    { env: { OTEL_BSP_SCHEDULE_DELAY: '50' } },
  );
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'echo');
  return gw;
}

describe('[otel] one span for a single-request POST /mcp', () => {
  it('the HTTP request and its MCP request are one server span with both sets of attributes; with a _meta context they stay two', async () => {
    const receiver = await startReceiver();
    try {
      const gw = await gateway(receiver);
      const mcp = new Client({ name: 'one-span', version: '1' });
      // Every POST of this client carries the same HTTP traceparent.
      const headers = { traceparent: `00-${TRACE_ID}-${PARENT}-01` };
      await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers } }));
      clients.push(mcp);
      await mcp.callTool({ name: 'echo__echo_meta', arguments: {} });
      const client = await eventually(() => receiver.spans.find((s) => s.traceId === TRACE_ID && s.kind === CLIENT));
      const method = await eventually(() => receiver.spans.find((s) => s.spanId === client.parentSpanId));
      // One span: the MCP request's name, the HTTP request's parent (its traceparent header), both sets of attributes,
      // and the routed call's (the MCP conventions: the tools/call span is the tool execution span; no execute_tool span).
      expect(method).toMatchObject({ kind: SERVER, name: 'tools/call echo__echo_meta', parentSpanId: PARENT });
      expect(method.attributes).toMatchObject({
        'http.request.method': 'POST',
        'http.route': '/mcp',
        'url.path': '/mcp',
        'http.response.status_code': 200,
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': 'echo__echo_meta',
        'stonegate.client.name': 'one-span',
        'stonegate.server': 'echo',
        'stonegate.outcome': 'success',
        'stonegate.attempt': 1,
      });
      // Not said twice: the exposed name is gen_ai.tool.name, the caller (no auth: the client's own name) stonegate.client.name.
      expect(method.attributes['stonegate.exposed_name']).toBeUndefined();
      expect(method.attributes['stonegate.caller']).toBeUndefined();
      expect(typeof method.attributes['mcp.session.id']).toBe('string');
      // Two spans for the call: that one and the backend request's.
      expect(receiver.spans.filter((s) => s.traceId === TRACE_ID && s.name.startsWith('execute_tool'))).toEqual([]);
      // No second server span for that POST: every tools/call span of the trace is that one.
      expect(receiver.spans.filter((s) => s.traceId === TRACE_ID && s.attributes['mcp.method.name'] === 'tools/call' && s.kind === SERVER)).toHaveLength(1);

      // With its own _meta context, the MCP request's span is in that trace, and the HTTP span stays apart.
      const posts = () => receiver.spans.filter((s) => s.traceId === TRACE_ID && s.name === 'POST /mcp' && s.parentSpanId === PARENT).length;
      const before = posts();
      const metaTrace = '6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b';
      await mcp.callTool({ name: 'echo__echo_meta', arguments: {}, _meta: { traceparent: `00-${metaTrace}-${PARENT}-01` } });
      const own = await eventually(() => receiver.spans.find((s) => s.traceId === metaTrace && s.kind === SERVER));
      expect(own).toMatchObject({ name: 'tools/call echo__echo_meta', parentSpanId: PARENT });
      expect(own.attributes['http.route']).toBeUndefined();
      await eventually(() => (posts() === before + 1 ? true : undefined));
    } finally {
      await receiver.close();
    }
  });

  // [speed] × [otel]: tracing on no longer sends a plain tools/call to the SDK path; the lean path makes the same spans.
  it.each([
    ['2025', {}],
    ['2026-07-28', { versionNegotiation: { mode: { pin: '2026-07-28' } } }],
  ] as const)('a plain %s tools/call takes the lean /mcp path with tracing on, with its spans and the backend in the trace', async (era, options) => {
    const receiver = await startReceiver();
    try {
      const gw = await gateway(receiver);
      const lean = async (): Promise<number> => {
        const text = await (await fetch(`${gw.url}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith(`stonegate_mcp_lean_calls_total{era="${era}"}`));
        return Number(line?.split(' ').pop() ?? Number.NaN);
      };
      const mcp = new Client({ name: `lean-${era}`, version: '1' }, options as ConstructorParameters<typeof Client>[1]);
      const headers = { traceparent: `00-${TRACE_ID}-${PARENT}-01` };
      await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers } }));
      clients.push(mcp);
      const before = await lean();
      const answer = await mcp.callTool({ name: 'echo__echo_meta', arguments: {} });
      expect(await lean()).toBe(before + 1);
      const client = await eventually(() => receiver.spans.find((s) => s.traceId === TRACE_ID && s.kind === CLIENT));
      const method = await eventually(() => receiver.spans.find((s) => s.spanId === client.parentSpanId));
      expect(method).toMatchObject({ kind: SERVER, name: 'tools/call echo__echo_meta', parentSpanId: PARENT });
      expect(method.attributes).toMatchObject({ 'http.route': '/mcp', 'http.response.status_code': 200, 'mcp.method.name': 'tools/call' });
      expect(method.attributes).toMatchObject({ 'stonegate.server': 'echo', 'stonegate.outcome': 'success' });
      expect(method.attributes['stonegate.client.name']).toBe(`lean-${era}`);
      expect(receiver.spans.filter((s) => s.traceId === TRACE_ID && s.name.startsWith('execute_tool'))).toEqual([]);
      // The backend continues from the gateway's client span, a child of that span.
      const seen = JSON.parse((answer.content as { text: string }[])[0]?.text ?? '{}') as { traceparent?: string };
      expect(seen.traceparent).toBe(`00-${TRACE_ID}-${client.spanId}-01`);
    } finally {
      await receiver.close();
    }
  });
});
