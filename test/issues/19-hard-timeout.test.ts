import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, resultText, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19, item 16: the gateway asked every backend for progress and let
// each progress report restart the call's timer, so a backend that reports
// progress outlived request_timeout (up to max_request_timeout, 10 min by
// default) even for a caller that asked for no progress.
//
// The demo's sleep reports progress every 100 ms when asked for it; a
// 600000 ms sleep therefore runs far past this test's own timeout unless
// the gateway's 1000 ms request_timeout is hard.

const CONFIG = `
[gateway]
request_timeout = 1000

${demoBackend()}
`;

let gw: RunningGateway;
const clients: Client[] = [];

async function mcpClient(): Promise<Client> {
  const client = new Client({ name: 'timeout-test', version: '1.0.0' });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
  return client;
}

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

describe('issue 19.16: progress extends the timeout only for a caller that asked for progress', () => {
  it('ends a REST call at request_timeout although the backend could report progress', async () => {
    const res = await gw.request('POST', '/call', { server: 'demo', tool: 'sleep', arguments: { ms: 600_000 } });
    expect(res.status).toBe(504);
    expect(res.body.code).toBe('TIMEOUT');
    expect(res.body.error).toMatch(/did not answer sleep within 1000 ms/);
  });

  it('ends an MCP call without a progress token at request_timeout', async () => {
    const client = await mcpClient();
    const result = (await client.callTool({ name: 'demo__sleep', arguments: { ms: 600_000 } }, { timeout: 120_000 })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect((result.content[0] as { text: string }).text).toMatch(/^TIMEOUT: /);
  });

  it('still lets progress extend the call of an MCP caller that asked for it', async () => {
    const client = await mcpClient();
    const seen: number[] = [];
    const result = (await client.callTool(
      { name: 'demo__sleep', arguments: { ms: 2_500 } },
      {
        onprogress: (p) => seen.push(p.progress),
        timeout: 120_000,
      },
    )) as CallToolResult;
    expect(result.isError).not.toBe(true);
    expect((result.content[0] as { text: string }).text).toBe('slept 2500 ms');
    expect(seen.length).toBeGreaterThan(0);
  });

  it('answers a short REST call as before', async () => {
    const res = await gw.request('POST', '/call', { server: 'demo', tool: 'sleep', arguments: { ms: 10 } });
    expect(res.status).toBe(200);
    expect(resultText(res.body)).toBe('slept 10 ms');
  });
});
