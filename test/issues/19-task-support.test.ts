import { join } from 'node:path';
import type { Tool } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, q, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19, item 13: proxied tools were listed with the backend's
// taskSupport passed through — "forbidden" on every plain tool of an SDK
// server — while the dispatch table can run any of them as a task.

const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

const CONFIG = `
${demoBackend()}

[[backends]]
name = "everything"
command = "node"
args = [${q(EVERYTHING)}, "stdio"]
`;

let gw: RunningGateway;
const clients: Client[] = [];

async function listTools(path: string): Promise<Tool[]> {
  const client = new Client({ name: 'tasks-test', version: '1.0.0' });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  return (await client.listTools()).tools;
}

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  for (const name of ['demo', 'everything']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

describe('issue 19.13: MCP task support of proxied tools', () => {
  it('lists every proxied tool on /mcp as taskSupport "optional", a backend\'s "required" tool as "required"', async () => {
    const tools = (await listTools('/mcp')).filter((t) => !t.name.startsWith('gate_'));
    expect(tools.map((t) => t.name)).toContain('demo__echo');
    expect(tools.map((t) => t.name)).toContain('everything__echo');
    const support = Object.fromEntries(tools.map((t) => [t.name, t.execution?.taskSupport]));
    // server-everything's research tool is registered as a task tool that requires it.
    expect(support['everything__simulate-research-query']).toBe('required');
    const others = Object.entries(support).filter(([name]) => name !== 'everything__simulate-research-query');
    expect(others.filter(([, s]) => s !== 'optional')).toEqual([]);
  });

  it('does the same on a per-server endpoint', async () => {
    const tools = await listTools('/mcp/everything');
    const support = Object.fromEntries(tools.map((t) => [t.name, t.execution?.taskSupport]));
    expect(support['simulate-research-query']).toBe('required');
    expect(support.echo).toBe('optional');
    expect(Object.entries(support).filter(([name, s]) => name !== 'simulate-research-query' && s !== 'optional')).toEqual([]);
  });
});
