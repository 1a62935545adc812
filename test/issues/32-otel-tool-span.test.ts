import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Tracing } from '../../src/telemetry/telemetry.js';
import { eventually, fixture, q, startGateway, stopAll } from '../helpers/harness.js';
import { type OtlpReceiver, startReceiver, tracingTo } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel], fewer spans per MCP call: the MCP semantic conventions
 * make a `tools/call` span the tool execution span (an MCP tool call span is
 * "compatible with GenAI execute_tool spans", and no separate span is made
 * for an execution already traced). So the routed call of the tool a
 * tools/call names adds its attributes to that MCP span instead of an
 * `execute_tool` span under it; a call the MCP request makes of another tool
 * (gate_call) keeps its own span (docs/tracing.md, "Spans").
 */

const TRACE_ID = '7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c';
const PARENT = 'd1d1d1d1d1d1d1d1';
const SERVER = 2;
const CLIENT = 3;
const clients: Client[] = [];
let receiver: OtlpReceiver | undefined;
let tracing: Tracing | undefined;

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
  await tracing?.shutdown();
  tracing = undefined;
  await receiver?.close();
  receiver = undefined;
});

describe('[otel] a tools/call span is its routed call’s span', () => {
  it('on /mcp/{server} the call takes the tools/call span (2 spans); through gate_call it keeps an execute_tool span of its own', async () => {
    const sink = await startReceiver();
    receiver = sink;
    const gw = await startGateway(
      `[[backends]]\nname = "echo"\ncommand = "node"\nargs = [${q(fixture('meta-echo-server'))}]\n\n[telemetry]\nenabled = true\notlp_endpoint = ${q(sink.url)}\nprotocol = "http/json"\n`,
      { env: { OTEL_BSP_SCHEDULE_DELAY: '50' } },
    );
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'echo');
    const headers = { traceparent: `00-${TRACE_ID}-${PARENT}-01` };

    // /mcp/echo names the tool unqualified: the routed call still takes its span.
    const single = new Client({ name: 'tool-span', version: '1' });
    await single.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/echo`), { requestInit: { headers } }));
    clients.push(single);
    await single.callTool({ name: 'echo_meta', arguments: {} });
    const client = await eventually(() => sink.spans.find((s) => s.traceId === TRACE_ID && s.kind === CLIENT));
    const method = await eventually(() => sink.spans.find((s) => s.spanId === client.parentSpanId));
    expect(method).toMatchObject({ kind: SERVER, name: 'tools/call echo_meta', parentSpanId: PARENT });
    expect(method.attributes).toMatchObject({
      'gen_ai.tool.name': 'echo_meta',
      'stonegate.server': 'echo',
      'stonegate.exposed_name': 'echo__echo_meta',
      'stonegate.outcome': 'success',
      'stonegate.breaker_state': 'closed',
    });
    expect(sink.spans.filter((s) => s.traceId === TRACE_ID && s.name.startsWith('execute_tool'))).toEqual([]);

    // gate_call routes another tool than the one its tools/call names: that call keeps its own span, under the MCP span.
    const gateTrace = '8d8d8d8d8d8d8d8d8d8d8d8d8d8d8d8d';
    const gate = new Client({ name: 'tool-span-gate', version: '1' });
    await gate.connect(
      new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { traceparent: `00-${gateTrace}-${PARENT}-01` } } }),
    );
    clients.push(gate);
    await gate.callTool({ name: 'gate_call', arguments: { server: 'echo', tool: 'echo_meta', arguments: {} } });
    const routed = await eventually(() => sink.spans.find((s) => s.traceId === gateTrace && s.name === 'execute_tool echo_meta'));
    const outer = await eventually(() => sink.spans.find((s) => s.spanId === routed.parentSpanId));
    expect(outer).toMatchObject({ kind: SERVER, name: 'tools/call gate_call' });
    expect(outer.attributes['stonegate.server']).toBeUndefined();
    const backend = await eventually(() => sink.spans.find((s) => s.traceId === gateTrace && s.kind === CLIENT));
    expect(backend.parentSpanId).toBe(routed.spanId);
  });

  it('the call’s exposed name and caller go on the span it took only where they differ from its gen_ai.tool.name and stonegate.client.name', async () => {
    const sink = await startReceiver();
    receiver = sink;
    tracing = tracingTo(sink.url);
    const run = (id: number, called: string, client: string, exposed: string, caller: string): void => {
      const signal = new AbortController().signal;
      const mcp = (tracing as Tracing).startMcp(
        undefined,
        { method: 'tools/call', id, params: { name: called } },
        () => undefined,
        () => client,
        signal,
      );
      if (mcp === undefined) throw new Error('no span');
      const describe = () => ({
        name: 'execute_tool echo',
        attributes: { 'gen_ai.tool.name': 'echo', 'stonegate.server': 'demo', 'stonegate.exposed_name': exposed, 'stonegate.caller': caller },
      });
      (tracing as Tracing).start((tracing as Tracing).spanOf(signal), undefined, false, 'internal', describe, 0).end();
      mcp.end({ content: [] });
    };
    run(1, 'demo__echo', 'agent', 'demo__echo', 'agent');
    run(2, 'echo', 'agent', 'demo__echo', 'token-name');
    const same = await eventually(() => sink.spans.find((s) => s.attributes['jsonrpc.request.id'] === '1'));
    expect(same.attributes).toMatchObject({ 'gen_ai.tool.name': 'demo__echo', 'stonegate.client.name': 'agent', 'stonegate.server': 'demo' });
    expect(same.attributes['stonegate.exposed_name']).toBeUndefined();
    expect(same.attributes['stonegate.caller']).toBeUndefined();
    const differ = await eventually(() => sink.spans.find((s) => s.attributes['jsonrpc.request.id'] === '2'));
    expect(differ.attributes).toMatchObject({
      'gen_ai.tool.name': 'echo',
      'stonegate.client.name': 'agent',
      'stonegate.exposed_name': 'demo__echo',
      'stonegate.caller': 'token-name',
    });
  });

  it('a failed routed call’s error code stays on the span it took, over the tool error its MCP request answers', async () => {
    const sink = await startReceiver();
    receiver = sink;
    tracing = tracingTo(sink.url);
    const signal = new AbortController().signal;
    const mcp = tracing.startMcp(
      undefined,
      { method: 'tools/call', id: 3, params: { name: 'demo__echo' } },
      () => undefined,
      () => 'c',
      signal,
    );
    if (mcp === undefined) throw new Error('no span');
    const describe = () => ({
      name: 'execute_tool echo',
      attributes: { 'gen_ai.tool.name': 'echo', 'stonegate.server': 'demo', 'stonegate.exposed_name': 'demo__echo' },
    });
    const call = tracing.start(tracing.spanOf(signal), undefined, false, 'internal', describe, 0);
    call.child('tools/call echo', 'client', { 'stonegate.server': 'demo' }).end();
    call.fail('CIRCUIT_OPEN', 'Circuit open');
    call.end();
    mcp.end({ isError: true });
    const span = await eventually(() => sink.spans.find((s) => s.name === 'tools/call demo__echo'));
    expect(span.attributes).toMatchObject({ 'error.type': 'CIRCUIT_OPEN', 'stonegate.server': 'demo', 'gen_ai.tool.name': 'demo__echo' });
    const backend = await eventually(() => sink.spans.find((s) => s.name === 'tools/call echo'));
    expect(backend.parentSpanId).toBe(span.spanId);
    expect(sink.spans.find((s) => s.name === 'execute_tool echo')).toBeUndefined();
  });
});
