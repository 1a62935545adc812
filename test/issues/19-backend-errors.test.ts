import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, fixture, q, type RunningGateway, serverRow, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19, items 6 and 7: what a backend answers is told apart from what
// happened to the link. A JSON-RPC error from a live backend is
// BACKEND_ERROR with its code — even -32000 and -32001, the codes the SDK
// uses for its own "connection closed" and "request timed out" — and never
// counts toward the circuit breaker. A malformed response to a real request
// id fails its call at once with BACKEND_ERROR and does count.
//
// Every backend has a request timeout of 10 minutes, far above the test's
// own 30 s: a call that completes proves the answer came at once, not from
// a timer.

let gw: RunningGateway;

const call = (server: string, tool: string, args: Record<string, unknown> = {}): ReturnType<RunningGateway['request']> =>
  gw.request('POST', '/call', { server, tool, arguments: args });

beforeAll(async () => {
  gw = await startGateway(`
[gateway]
max_request_timeout = 2000

${demoBackend('ticker')}
timeout = 500

[[backends]]
name = "answers"
command = "node"
args = [${q(fixture('flaky-server'))}]
timeout = 600000
circuit_breaker = { failure_threshold = 2, reset_timeout = 60 }

[[backends]]
name = "garbled"
command = "node"
args = [${q(fixture('flaky-server'))}]
timeout = 600000
circuit_breaker = { failure_threshold = 2, reset_timeout = 60 }
`);
  for (const name of ['answers', 'garbled', 'ticker']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterAll(stopAll);

describe('#19.6 a backend’s own JSON-RPC errors', () => {
  it('-32000 from a live backend is BACKEND_ERROR with its code, not a closed connection; nothing restarts', async () => {
    const before = await serverRow(gw, 'answers');
    const { status, headers, body } = await call('answers', 'rpc_error', { code: -32000 });
    expect(status).toBe(502);
    expect(body.code).toBe('BACKEND_ERROR');
    expect(body.backend_code).toBe(-32000);
    expect(body.error).toMatch(/answered rpc_error with error -32000/);
    expect(body.error).not.toMatch(/restart/);
    expect(headers.get('retry-after')).toBeNull();
    const after = await serverRow(gw, 'answers');
    expect(after.status).toBe('running');
    expect(after.pid).toBe(before.pid);
    expect(after.restarts).toBe(0);
  });

  it('-32001 from a live backend is BACKEND_ERROR with its code, not TIMEOUT', async () => {
    const { status, body } = await call('answers', 'rpc_error', { code: -32001 });
    expect(status).toBe(502);
    expect(body.code).toBe('BACKEND_ERROR');
    expect(body.backend_code).toBe(-32001);
  });

  it('never open the circuit: a tool rejecting one tenant’s input does not shut it for everyone', async () => {
    for (const code of [-32000, -32001, -32603, -32602, -32603]) {
      expect((await call('answers', 'rpc_error', { code })).body.code).toBe('BACKEND_ERROR');
    }
    expect((await serverRow(gw, 'answers')) as unknown as { circuit: string }).toMatchObject({ circuit: 'closed' });
    expect((await call('answers', 'ok')).status).toBe(200);
  });
});

describe('#19.7 a malformed response to a real request id', () => {
  it('fails the call at once with BACKEND_ERROR, and the backend keeps serving', async () => {
    const { status, headers, body } = await call('answers', 'malformed');
    expect(status).toBe(502);
    expect(body.code).toBe('BACKEND_ERROR');
    expect(body.malformed).toBe(true);
    expect(body.error).toMatch(/malformed JSON-RPC response \("result" is a string, not an object\)/);
    expect(headers.get('retry-after')).toBeNull();
    expect((await call('answers', 'ok')).status).toBe(200);
    await gw.waitForLog((l) => l.msg.startsWith('backend sent a malformed JSON-RPC response') && l.backend === 'answers');
  });

  it('counts toward the circuit breaker: failure_threshold of them open it', async () => {
    for (let i = 0; i < 2; i += 1) expect((await call('garbled', 'malformed')).body.code).toBe('BACKEND_ERROR');
    const refused = await call('garbled', 'ok');
    expect(refused.body.code).toBe('CIRCUIT_OPEN');
  });
});

describe('#19.6 the gateway’s own deadline', () => {
  // The deadline replaced the SDK's timer: progress still extends it (the
  // demo's sleep reports progress about every 100 ms), up to
  // max_request_timeout — for a caller that asked for progress, here an MCP
  // call with a progress token (a plain POST /call is not asked for
  // progress: #19 item 16).
  it('extends on progress past the backend’s timeout, and expires at max_request_timeout', async () => {
    const client = new Client({ name: 'deadline-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    try {
      const sleep = async (ms: number): Promise<CallToolResult> =>
        (await client.callTool({ name: 'ticker__sleep', arguments: { ms } }, { onprogress: () => undefined, timeout: 120_000 })) as CallToolResult;
      const extended = await sleep(1_200);
      expect(extended.isError).not.toBe(true);
      const capped = await sleep(600_000);
      expect(capped.isError).toBe(true);
      expect(capped._meta?.['stonegate/error']).toMatchObject({ code: 'TIMEOUT' });
      await gw.waitForLog((l) => l.backend === 'ticker' && l.msg === 'demo: sleep cancelled');
    } finally {
      await client.close();
    }
  });
});
