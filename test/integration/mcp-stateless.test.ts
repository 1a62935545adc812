import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * [gateway] mcp_sessions = "stateless": every POST is served by a server of
 * its own, no session id is handed out, and nothing is kept between
 * requests, so any gateway behind a load balancer can answer any request.
 */

const CONFIG = `
[gateway]
mcp_sessions = "stateless"

${demoBackend()}
`;

let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
});
afterAll(stopAll);

describe('stateless /mcp', () => {
  it('serves the SDK client without a session: initialize, list, call, with progress on the call', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`));
    const client = new Client({ name: 'stateless-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect(transport.sessionId).toBeUndefined();
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('demo__echo');
      const echo = (await client.callTool({ name: 'demo__echo', arguments: { text: 'no session' } })) as CallToolResult;
      expect((echo.content[0] as { text: string }).text).toContain('no session');
      const progress: number[] = [];
      const slept = (await client.callTool(
        { name: 'demo__sleep', arguments: { ms: 300 } },
        {
          onprogress: (p) => progress.push(p.progress),
        },
      )) as CallToolResult;
      expect(slept.isError).not.toBe(true);
      expect(progress.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it('answers a call from a client that never initialized on this gateway, as another instance would see it', async () => {
    const response = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'demo__echo', arguments: { text: 'elsewhere' } } }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBeNull();
    const body = (await response.json()) as { result: CallToolResult };
    expect((body.result.content[0] as { text: string }).text).toContain('elsewhere');
  });

  it('refuses GET and DELETE with 405: there is no session stream to open or end', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(`${gw.url}/mcp`, { method, headers: { accept: 'text/event-stream' } });
      expect(response.status, method).toBe(405);
      expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/mcp_sessions = "stateless"/);
    }
  });
});
