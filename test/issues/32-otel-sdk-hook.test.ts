import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport, Server } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import type { Tracing } from '../../src/telemetry/telemetry.js';
import { eventually } from '../helpers/harness.js';
import { type OtlpReceiver, startReceiver, tracingTo } from '../helpers/otlp-receiver.js';

/*
 * Issue #32 [otel]: the MCP span of a request comes from a hook into the
 * MCP SDK's Server that is not public API — Protocol._wrapHandler (every
 * handler registered after it is replaced goes through it), the
 * fallbackRequestHandler property (tools/call) and the _requestHandlers
 * map (initialize, registered by the constructor). This guards both against
 * an SDK upgrade: a Server whose hook moved makes no MCP span here, with
 * a message that says which part of the hook is gone.
 */

let receiver: OtlpReceiver | undefined;
let tracing: Tracing | undefined;

afterEach(async () => {
  await tracing?.shutdown();
  await receiver?.close();
});

describe('[otel] the MCP SDK hook', () => {
  it('a Server still routes registered handlers through _wrapHandler and tools/call through fallbackRequestHandler', async () => {
    const server = new Server({ name: 'hooked', version: '1' }, { capabilities: { tools: {}, resources: {} } });
    expect(typeof (server as unknown as { _wrapHandler?: unknown })._wrapHandler, 'Protocol._wrapHandler is gone: otel.ts traceServer needs another hook').toBe(
      'function',
    );
    receiver = await startReceiver();
    tracing = tracingTo(receiver.url);
    tracing.traceServer(server, { session: () => undefined, client: () => server.getClientVersion()?.name });
    // As the gateway registers them: after the hook (session-server.ts), a handler and the fallback.
    server.setRequestHandler('resources/list', async () => ({ resources: [] }));
    server.fallbackRequestHandler = async (request) => {
      if (request.method !== 'tools/call') throw new Error(`unexpected ${request.method}`);
      return { content: [{ type: 'text', text: 'ok' }] };
    };
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'hook-guard', version: '1' });
    await client.connect(clientSide);
    try {
      await client.listResources();
      await client.request({ method: 'tools/call', params: { name: 'probe', arguments: {} } });
    } finally {
      await client.close();
    }
    const spans = receiver.spans;
    const list = await eventually(() => spans.find((s) => s.name === 'resources/list'));
    expect(list.attributes, 'a registered handler made no MCP span: Protocol._wrapHandler is no longer called').toMatchObject({
      'mcp.method.name': 'resources/list',
      'stonegate.client.name': 'hook-guard',
    });
    // initialize, registered by the Server's constructor before the hook (its _requestHandlers map), has its span too.
    const init = await eventually(() => spans.find((s) => s.name === 'initialize'));
    expect(init.attributes, 'initialize made no MCP span: Protocol._requestHandlers is no longer a Map of handlers').toMatchObject({
      'mcp.method.name': 'initialize',
      'stonegate.client.name': 'hook-guard',
    });
    const call = await eventually(() => spans.find((s) => s.name === 'tools/call probe'));
    expect(call.attributes, 'tools/call made no MCP span: fallbackRequestHandler is no longer read as a property').toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'probe',
    });
  });

  it('startMcp, for an MCP path that serves without the SDK Server: the POST and its MCP request are one span, the call its child', async () => {
    receiver = await startReceiver();
    tracing = tracingTo(receiver.url);
    const post = {};
    const http = tracing.startHttp(post, 'POST', '/mcp', () => undefined, '/mcp');
    const mcp = tracing.startMcp(
      post,
      { method: 'tools/call', id: 7, params: { name: 'demo__echo' } },
      () => 'session-1',
      () => 'lean-client',
    );
    if (http === undefined || mcp === undefined) throw new Error('no span');
    const call = tracing.start(mcp.span, undefined, false, 'internal', () => ({ name: 'execute_tool echo', attributes: { 'gen_ai.tool.name': 'echo' } }), 0);
    call.end();
    tracing.endHttp(http, '/mcp', 200);
    // The span ends with the later of the answer and the MCP request: the call's span is out, the shared one not yet.
    const spans = receiver.spans;
    const routed = await eventually(() => spans.find((s) => s.name === 'execute_tool echo'));
    expect(spans.find((s) => s.name === 'tools/call demo__echo')).toBeUndefined();
    mcp.end({ isError: true });
    const one = await eventually(() => spans.find((s) => s.name === 'tools/call demo__echo'));
    expect(one.attributes).toMatchObject({
      'http.route': '/mcp',
      'http.response.status_code': 200,
      'mcp.method.name': 'tools/call',
      'jsonrpc.request.id': '7',
      'stonegate.client.name': 'lean-client',
      'error.type': 'tool_error',
    });
    expect(one.attributes['mcp.session.id']).toMatch(/^[0-9a-f]{16}$/);
    expect(routed.parentSpanId).toBe(one.spanId);
    // Polls make no span.
    expect(
      tracing.startMcp(
        undefined,
        { method: 'ping' },
        () => undefined,
        () => undefined,
      ),
    ).toBeUndefined();
  });
});
