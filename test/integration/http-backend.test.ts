import { afterAll, describe, expect, it } from 'vitest';
import { demoBackend, q, startGateway, stopAll } from '../helpers/harness.js';

afterAll(stopAll);

// A remote MCP server as a backend: here another stonegate, reached over
// Streamable HTTP at /mcp and, for the fallback, over legacy SSE at /sse.
describe('http backends', () => {
  it('routes calls to a remote server over Streamable HTTP, and falls back to legacy SSE', async () => {
    const remote = await startGateway(`
${demoBackend()}
`);
    await remote.waitForLog((l) => l.msg === 'backend ready');
    const gw = await startGateway(`
[[backends]]
name = "remote"
transport = "http"
url = ${q(`${remote.url}/mcp/demo`)}
headers = { "X-Trace" = "stonegate-test" }

[[backends]]
name = "legacy"
transport = "http"
url = ${q(`${remote.url}/sse`)}
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'remote');
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'legacy');

    const direct = await gw.request('POST', '/call', { server: 'remote', tool: 'echo', arguments: { text: 'over http' } });
    expect(direct.status).toBe(200);
    // (A stonegate /mcp serves 2026-07-28 clients: the backend's era is modern, its result may carry _meta.)
    expect(direct.body.result).toMatchObject({ content: [{ type: 'text', text: 'over http' }] });

    // The SSE backend is the remote gateway's whole /mcp view: prefixed names.
    const viaSse = await gw.request('POST', '/call', { server: 'legacy', tool: 'demo__echo', arguments: { text: 'over sse' } });
    expect(viaSse.status).toBe(200);
    expect(viaSse.body.result).toEqual({ content: [{ type: 'text', text: 'over sse' }] });

    const list = (await gw.request('GET', '/server/list')).body.servers as { name: string; transport: string; status: string; tool_count: number }[];
    expect(list.map((s) => [s.name, s.transport, s.status])).toEqual([
      ['remote', 'http', 'running'],
      ['legacy', 'http', 'running'],
    ]);
    expect(list[0]?.tool_count).toBeGreaterThan(5);
    // protocol unset on http is `auto`: asked in place; legacy SSE is 2025-era.
    const eras = (list as unknown as { protocol: { era: string } }[]).map((s) => s.protocol.era);
    expect(eras).toEqual(['modern', 'legacy']);
  });

  it('fails a backend whose URL answers nothing, while the gateway serves', async () => {
    const gw = await startGateway(`
[supervisor]
restart_backoff_min = 10
restart_backoff_max = 20
crash_loop_restarts = 2

[[backends]]
name = "nowhere"
transport = "http"
url = "http://127.0.0.1:9/mcp"
`);
    const health = await gw.request('GET', '/health');
    expect(health.status).toBe(200);
    await gw.waitForLog((l) => l.msg === 'backend failed');
    const call = await gw.request('POST', '/call', { server: 'nowhere', tool: 'x', arguments: {} });
    expect(call.body.code).toBe('BACKEND_UNAVAILABLE');
    expect(call.body.error).toMatch(/did not accept an MCP connection/);
  });
});
