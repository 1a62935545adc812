import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * /mcp answers a POST as plain JSON when nothing but the response can follow
 * it, and as an SSE stream when the request may be followed by messages of
 * its own (progress, log messages; a backend's sampling request turns a
 * JSON answer into a stream when it is sent, #30). The
 * choice is made per request on one session, so both kinds can be in flight
 * at once. These tests read the raw HTTP answers, so they also catch an SDK
 * upgrade that changes the transport internals the choice depends on.
 */

const CONFIG = `
${demoBackend()}
`;

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
});
afterAll(stopAll);

/** Opens a session whose client declares `capabilities`; returns a POST helper for it. */
async function session(capabilities: Record<string, unknown> = {}): Promise<(body: unknown) => Promise<Response>> {
  const init = await fetch(`${gw.url}/mcp`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
  expect(init.status).toBe(200);
  expect(init.headers.get('content-type')).toContain('application/json');
  const id = init.headers.get('mcp-session-id') ?? '';
  await init.json();
  const headers = { ...HEADERS, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' };
  const post = (body: unknown): Promise<Response> => fetch(`${gw.url}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
  expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
  return post;
}

const call = (id: number, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>): unknown => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) },
});

/** The JSON-RPC messages of an SSE body, in order. */
function sseMessages(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: ') && line.length > 6)
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);
}

describe('/mcp response form', () => {
  it('answers a plain tools/call with one JSON body', async () => {
    const post = await session();
    const response = await post(call(1, 'demo__echo', { text: 'plain' }));
    expect(response.headers.get('content-type')).toContain('application/json');
    const body = (await response.json()) as { id: number; result: { content: { text: string }[] } };
    expect(body.id).toBe(1);
    expect(body.result.content[0]?.text).toContain('plain');
  });

  it('streams a call that carries a progress token, progress first, then the result', async () => {
    const post = await session();
    const response = await post(call(2, 'demo__sleep', { ms: 300 }, { progressToken: 'p1' }));
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const messages = sseMessages(await response.text());
    const last = messages.at(-1) as { id?: number; result?: unknown };
    expect(last.id).toBe(2);
    expect(last.result).toBeDefined();
    expect(messages.slice(0, -1).some((m) => m.method === 'notifications/progress')).toBe(true);
  });

  // [speed] #30: until a call sends its client a message (then its answer turns into SSE: test/issues/30-lean-mcp-asks.test.ts).
  it('answers a plain call of a client that can answer sampling requests as JSON', async () => {
    const post = await session({ sampling: {} });
    const response = await post(call(3, 'demo__echo', { text: 'sampler' }));
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toMatchObject({ id: 3 });
  });

  // [speed] #30: a plain call of such a session is JSON until it sends the client a message (30-lean-mcp-asks.test.ts).
  it('streams once the client has set a log level (a call that logs; a plain call is JSON)', async () => {
    const post = await session();
    const level = await post({ jsonrpc: '2.0', id: 4, method: 'logging/setLevel', params: { level: 'debug' } });
    expect(sseMessages(await level.text()).at(-1)).toMatchObject({ id: 4 });
    const response = await post(call(5, 'demo__log', { level: 'info', message: 'logged' }));
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const messages = sseMessages(await response.text());
    expect(messages.at(-1)).toMatchObject({ id: 5 });
    expect(messages.some((m) => m.method === 'notifications/message')).toBe(true);
    const plain = await post(call(6, 'demo__echo', { text: 'quiet' }));
    expect(plain.headers.get('content-type')).toContain('application/json');
  });

  it('keeps JSON and SSE answers apart when both are in flight on one session', async () => {
    const post = await session();
    const streamed = post(call(10, 'demo__sleep', { ms: 400 }, { progressToken: 'p2' }));
    const plain = await Promise.all([11, 12, 13].map((id) => post(call(id, 'demo__echo', { text: `n${id}` }))));
    for (const [i, response] of plain.entries()) {
      expect(response.headers.get('content-type')).toContain('application/json');
      expect(await response.json()).toMatchObject({ id: 11 + i });
    }
    const slow = await streamed;
    expect(slow.headers.get('content-type')).toContain('text/event-stream');
    expect(sseMessages(await slow.text()).at(-1)).toMatchObject({ id: 10 });
  });
});
