import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { callToolStream } from '../helpers/mcp-tasks.js';

// Issue #19, item 19: gate_call, gate_status and POST /call took keys their
// schemas do not have (additionalProperties: false), so a typo in
// 'arguments' silently called the tool with {}; gate_call_async and POST
// /call/async accepted arguments that break the tool's schema and failed
// later. Tried as a new user would, on a real gateway and the demo backend.

let gw: RunningGateway;
let client: Client;

beforeAll(async () => {
  gw = await startGateway(demoBackend());
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
  client = new Client({ name: 'issue-19', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
});
afterAll(async () => {
  await client.close();
  await stopAll();
});

const text = (r: CallToolResult): string => (r.content[0] as { text: string }).text;
const gate = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;

describe('issue 19.19: unknown keys are refused, not dropped', () => {
  it('POST /call and POST /call/async refuse a mistyped arguments key with BAD_REQUEST naming the nearest key', async () => {
    // demo/fail takes an optional message: with the key dropped it would run and answer 200.
    for (const path of ['/call', '/call/async']) {
      const { status, body } = await gw.request('POST', path, { server: 'demo', tool: 'fail', argumnts: { message: 'mine' } });
      expect(status).toBe(400);
      expect(body.code).toBe('BAD_REQUEST');
      expect(body.error).toBe("Unknown key 'argumnts' (did you mean 'arguments'?) in the request body; it takes server, tool, arguments");
    }
  });

  it('gate_call and gate_call_async refuse a mistyped arguments key with INVALID_ARGUMENTS and the same sentence', async () => {
    for (const name of ['gate_call', 'gate_call_async']) {
      const result = await gate(name, { server: 'demo', tool: 'fail', argumnts: { message: 'mine' } });
      expect(result.isError).toBe(true);
      expect(result._meta).toEqual({ 'stonegate/error': { code: 'INVALID_ARGUMENTS' } });
      expect(text(result)).toBe(`INVALID_ARGUMENTS: Unknown key 'argumnts' (did you mean 'arguments'?) in ${name}; it takes server, tool, arguments`);
    }
  });

  it('gate_status and gate_discover refuse keys they do not take', async () => {
    const status = await gate('gate_status', { server: 'demo', verbose: true });
    expect(status.isError).toBe(true);
    expect(text(status)).toBe("INVALID_ARGUMENTS: Unknown key 'verbose' in gate_status; it takes server");
    const discover = await gate('gate_discover', { querry: 'echo' });
    expect(discover.isError).toBe(true);
    expect(text(discover)).toContain("Unknown key 'querry' (did you mean 'query'?) in gate_discover");
  });

  it('well-formed calls still work on both surfaces', async () => {
    const rest = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'ok' } });
    expect(rest.status).toBe(200);
    const mcp = await gate('gate_call', { server: 'demo', tool: 'echo', arguments: { text: 'ok' } });
    expect(text(mcp)).toBe('ok');
  });
});

describe('issue 19.19: async calls check the tool arguments before accepting', () => {
  it('POST /call/async answers INVALID_ARGUMENTS at once instead of a call id that fails later', async () => {
    const { status, body } = await gw.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 'long' } });
    expect(status).toBe(400);
    expect(body.code).toBe('INVALID_ARGUMENTS');
    expect(body.error).toMatch(/^Invalid arguments for demo\/sleep: arguments\/ms must be/);
    expect(body.call_id).toBeUndefined();
  });

  it('gate_call_async answers INVALID_ARGUMENTS at once, with no call id', async () => {
    const result = await gate('gate_call_async', { server: 'demo', tool: 'sleep', arguments: { ms: 'long' } });
    expect(result.isError).toBe(true);
    expect(result._meta).toEqual({ 'stonegate/error': { code: 'INVALID_ARGUMENTS' } });
    expect(text(result)).toMatch(/^INVALID_ARGUMENTS: Invalid arguments for demo\/sleep: arguments\/ms must be/);
    expect(result.structuredContent).toBeUndefined();
  });

  it('a task-augmented tools/call is refused with -32602 before a task is created', async () => {
    const seen: string[] = [];
    let error: unknown;
    const stream = callToolStream(client, { name: 'demo__sleep', arguments: { ms: 'long' } }, { ttl: 60_000 });
    for await (const message of stream) {
      seen.push(message.type);
      if (message.type === 'error') error = message.error;
    }
    expect(seen).toEqual(['error']);
    expect(error).toMatchObject({ code: -32602 });
    expect(String((error as Error).message)).toMatch(/INVALID_ARGUMENTS: Invalid arguments for demo\/sleep: arguments\/ms must be/);
  });

  it('valid async calls are still accepted', async () => {
    const { status, body } = await gw.request('POST', '/call/async', { server: 'demo', tool: 'echo', arguments: { text: 'later' } });
    expect(status).toBe(202);
    const done = await gw.request('GET', `/call/${body.call_id as string}?wait_ms=10000`);
    expect(done.body).toMatchObject({ status: 'complete', result: { content: [{ text: 'later' }] } });
  });
});
