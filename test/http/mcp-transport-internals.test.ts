import { Server, WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { MemoryEventStore } from '../../src/http/event-store.js';
import { requestControllersOf } from '../../src/http/mcp-lean.js';
import { GatewayHttpTransport } from '../../src/http/mcp-transport.js';

/*
 * GatewayHttpTransport chooses JSON or SSE per request by setting private
 * fields of the SDK's Streamable HTTP server transport (no public API does
 * this per request). The SDK is pinned to an exact version for it; this test
 * fails as soon as an SDK update renames or retypes one of those fields, so
 * the choice never silently stops working.
 */

type Internals = Record<string, unknown>;

describe("the SDK transport's fields GatewayHttpTransport reads and sets", () => {
  it('exist with the types it relies on', () => {
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true }) as unknown as Internals;
    expect(transport._enableJsonResponse).toBe(true);
    expect(transport._requestToStreamMapping).toBeInstanceOf(Map);
    expect(transport._streamMapping).toBeInstanceOf(Map);
  });

  it("has the stream methods a lean call's switch to SSE calls (mcp-lean-sse.ts), writing through the controller it is given", async () => {
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      eventStore: new MemoryEventStore(),
    }) as unknown as Internals;
    expect(typeof transport.writePrimingEvent).toBe('function');
    expect(typeof transport.startKeepAlive).toBe('function');
    const written: string[] = [];
    const controller = { enqueue: (chunk: string) => written.push(chunk), close: () => undefined };
    const encoder = { encode: (text: string) => text };
    await (transport.writePrimingEvent as (c: unknown, e: unknown, s: string, v: string) => Promise<void>).call(
      transport,
      controller,
      encoder,
      'stream1',
      '2025-11-25',
    );
    expect(written).toEqual([expect.stringMatching(/^id: stream1_\d+\ndata: \n\n$/)]);
    const timer = (transport.startKeepAlive as (c: unknown, e: unknown) => ReturnType<typeof setInterval> | undefined).call(transport, controller, encoder);
    clearInterval(timer);
  });

  it('are the ones a POST fills: a JSON-answered request maps to a stream with resolveJson', async () => {
    const transport = new GatewayHttpTransport({ sessionIdGenerator: undefined }, { serverRequests: () => false });
    const seen: unknown[] = [];
    transport.onmessage = (message) => {
      const internals = transport as unknown as Internals;
      const byRequest = internals._requestToStreamMapping as Map<unknown, string>;
      const streams = internals._streamMapping as Map<string, { resolveJson?: unknown }>;
      const stream = byRequest.get((message as { id: number }).id);
      seen.push(stream !== undefined && typeof streams.get(stream)?.resolveJson === 'function');
      void transport.send({ jsonrpc: '2.0', id: (message as { id: number }).id, result: {} });
    };
    await transport.start();
    const body = { jsonrpc: '2.0', id: 7, method: 'ping' };
    const request = new Request('http://127.0.0.1/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify(body),
    });
    const response = await transport.handlePost(request, body);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toMatchObject({ id: 7, result: {} });
    expect(seen).toEqual([true]);
  });
});

/*
 * [speed] The lean /mcp path (mcp-lean.ts) registers each call's
 * AbortController in the session server's request controllers (the SDK
 * Protocol's private `_requestHandlerAbortControllers`), so that the
 * client's notifications/cancelled aborts it as it aborts the SDK's own.
 */
describe("the SDK Protocol's request controllers the lean path registers in", () => {
  it('are a Map that notifications/cancelled aborts by request id', async () => {
    const server = new Server({ name: 't', version: '1' }, { capabilities: { tools: {} } });
    const controllers = requestControllersOf(server);
    expect(controllers).toBeInstanceOf(Map);
    const transport = new GatewayHttpTransport({ sessionIdGenerator: undefined }, { serverRequests: () => false });
    await server.connect(transport);
    const aborter = new AbortController();
    requestControllersOf(server)?.set('lean-1', aborter);
    transport.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'lean-1', reason: 'client cancels' } });
    await new Promise<void>((resolve) => aborter.signal.addEventListener('abort', () => resolve(), { once: true }));
    expect(aborter.signal.reason).toBe('client cancels');
    await server.close();
  });
});
