import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { callToolStream, listTasks } from '../helpers/mcp-tasks.js';

const CONFIG = (extra = ''): string => `
${extra}
${demoBackend()}
`;

const clients: Client[] = [];
async function mcp(gw: RunningGateway): Promise<Client> {
  const client = new Client({ name: 'async-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
  clients.push(client);
  return client;
}

function structured<T>(result: unknown): T {
  return (result as CallToolResult).structuredContent as T;
}

interface View {
  call_id: string;
  status: string;
  result?: CallToolResult;
  error?: { code: string; message: string };
  progress?: { progress: number };
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

describe('async dispatch over MCP', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await startGateway(CONFIG());
    await gw.waitForLog((l) => l.msg === 'backend ready');
  });

  it('returns a call_id at once, shows it running with progress, and gate_await returns the result', async () => {
    const client = await mcp(gw);
    const submitted = structured<{ call_id: string; submitted_at: string }>(
      await client.callTool({ name: 'gate_call_async', arguments: { server: 'demo', tool: 'sleep', arguments: { ms: 2000 } } }),
    );
    expect(submitted.call_id).toMatch(/^call_[A-Za-z0-9_-]{22}$/);
    // At once: the call_id came back before the 2 s sleep finished.
    const first = structured<View>(await client.callTool({ name: 'gate_poll', arguments: { call_id: submitted.call_id } }));
    expect(['pending', 'running']).toContain(first.status);
    const running = await eventually(async () => {
      const v = structured<View>(await client.callTool({ name: 'gate_poll', arguments: { call_id: submitted.call_id } }));
      return v.status === 'running' && v.progress !== undefined ? v : undefined;
    });
    expect(running.progress?.progress).toBeGreaterThan(0);
    const done = structured<View>(await client.callTool({ name: 'gate_await', arguments: { call_id: submitted.call_id, timeout_ms: 10_000 } }));
    expect(done.status).toBe('complete');
    expect(done.result).toEqual({ content: [{ type: 'text', text: 'slept 2000 ms' }] });
  });

  it('gate_cancel ends a running call as cancelled, and the backend sees the cancellation', async () => {
    const client = await mcp(gw);
    const { call_id } = structured<{ call_id: string }>(
      await client.callTool({ name: 'gate_call_async', arguments: { server: 'demo', tool: 'sleep', arguments: { ms: 60_000 } } }),
    );
    await eventually(async () => structured<View>(await client.callTool({ name: 'gate_poll', arguments: { call_id } })).status === 'running');
    const cancelled = structured<View>(await client.callTool({ name: 'gate_cancel', arguments: { call_id } }));
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.error?.code).toBe('CANCELLED');
    await gw.waitForLog((l) => l.backend === 'demo' && l.msg === 'demo: sleep cancelled');
  });

  it('answers an unknown id with UNKNOWN_CALL', async () => {
    const client = await mcp(gw);
    const result = (await client.callTool({ name: 'gate_poll', arguments: { call_id: 'call_nope' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result._meta).toEqual({ 'stonegate/error': { code: 'UNKNOWN_CALL' } });
  });

  it('runs a task-augmented tools/call as an MCP task; tasks/result returns the tool result', async () => {
    const client = await mcp(gw);
    const messages: string[] = [];
    let result: CallToolResult | undefined;
    const stream = callToolStream(client, { name: 'demo__echo', arguments: { text: 'as a task' } }, { ttl: 60_000 });
    for await (const message of stream) {
      messages.push(message.type);
      if (message.type === 'result') result = message.result as CallToolResult;
      if (message.type === 'error') throw message.error;
    }
    expect(messages[0]).toBe('taskCreated');
    expect(result).toMatchObject({ content: [{ type: 'text', text: 'as a task' }] });
    const listed = await listTasks(client);
    expect(listed.tasks.some((t) => t.status === 'completed')).toBe(true);
  });
});

describe('async dispatch over REST', () => {
  it('submits, long-polls, cancels; expires results after result_ttl; refuses when full', async () => {
    const gw = await startGateway(CONFIG('[dispatch]\nresult_ttl = 1\nmax_entries = 2'));
    await gw.waitForLog((l) => l.msg === 'backend ready');
    const a = await gw.request('POST', '/call/async', { server: 'demo', tool: 'echo', arguments: { text: 'async' } });
    expect(a.status).toBe(202);
    const id = a.body.call_id as string;
    const done = await gw.request('GET', `/call/${id}?wait_ms=5000`);
    expect(done.body).toMatchObject({ call_id: id, status: 'complete', result: { content: [{ text: 'async' }] } });

    const b = await gw.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 30_000 } });
    const full = await gw.request('POST', '/call/async', { server: 'demo', tool: 'echo', arguments: { text: 'x' } });
    expect(full.status).toBe(503);
    expect(full.body.code).toBe('DISPATCH_FULL');
    const cancelled = await gw.request('DELETE', `/call/${b.body.call_id as string}`);
    expect(cancelled.body).toMatchObject({ status: 'cancelled' });

    await eventually(async () => (await gw.request('GET', `/call/${id}`)).body.code === 'UNKNOWN_CALL', 5_000);
    const unknownTool = await gw.request('POST', '/call/async', { server: 'demo', tool: 'nope', arguments: {} });
    expect(unknownTool.body.code).toBe('UNKNOWN_TOOL');
    // Arguments that break the tool's schema are refused before the call is accepted (issue #19).
    const bad = await gw.request('POST', '/call/async', { server: 'demo', tool: 'echo', arguments: { text: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'INVALID_ARGUMENTS' });
  });

  it('keeps a finished result and marks a running call INTERRUPTED across a SIGKILL of the gateway', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-async-'));
    try {
      const gw = await startGateway(CONFIG(), { dir, keep: true });
      await gw.waitForLog((l) => l.msg === 'backend ready');
      const finished = await gw.request('POST', '/call/async', { server: 'demo', tool: 'echo', arguments: { text: 'kept' } });
      await gw.request('GET', `/call/${finished.body.call_id as string}?wait_ms=5000`);
      const running = await gw.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 60_000 } });
      await eventually(async () => (await gw.request('GET', `/call/${running.body.call_id as string}`)).body.status === 'running');
      await gw.stop('SIGKILL');

      const again = await startGateway(CONFIG(), { dir, keep: true });
      const kept = await again.request('GET', `/call/${finished.body.call_id as string}`);
      expect(kept.body).toMatchObject({ status: 'complete', result: { content: [{ text: 'kept' }] } });
      const interrupted = await again.request('GET', `/call/${running.body.call_id as string}`);
      expect(interrupted.body).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
      await again.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
