import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #23 item 1 (first step): one MCP URL serves both protocol eras. A
 * client pinned to 2026-07-28 (no initialize, no session) and a 2025-era
 * client list tools, call them, read resources and get prompts through the
 * same gateway, on /mcp and /mcp/{server}; a negotiating client lands on the
 * modern era; tokens and their server lists apply to modern requests too.
 */

const AGENT = 'dual-era-agent-token-77c1';
const ADMIN = 'dual-era-admin-token-2b90';
const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  const config = `${demoBackend()}\n${demoBackend('other')}
[auth]
[[auth.tokens]]
name = "agent-a"
token = "\${DUAL_AGENT}"
servers = ["demo"]

[[auth.tokens]]
name = "root"
role = "admin"
token = "\${DUAL_ADMIN}"
`;
  gw = await startGateway(config, { env: { DUAL_AGENT: AGENT, DUAL_ADMIN: ADMIN } });
  for (const name of ['demo', 'other']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

type Era = 'modern' | 'legacy' | 'auto';

async function connect(path: string, era: Era, token = ADMIN): Promise<Client> {
  const negotiation =
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : era === 'auto' ? { versionNegotiation: { mode: 'auto' } } : {};
  const client = new Client({ name: `dual-era-${era}`, version: '1' }, negotiation as ConstructorParameters<typeof Client>[1]);
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;

describe('issue 23.1: 2026-07-28 and 2025 clients on one URL', () => {
  it.each(['modern', 'legacy'] as const)('a %s client lists, calls, reads and gets prompts on /mcp', async (era) => {
    const client = await connect('/mcp', era);
    expect(client.getProtocolEra()).toBe(era);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['demo__echo', 'other__echo', 'gate_discover']));
    expect(text(await client.callTool({ name: 'demo__echo', arguments: { text: `hello ${era}` } }))).toBe(`hello ${era}`);
    const read = await client.readResource({ uri: 'stonegate://demo/demo://readme' });
    expect(read.contents[0]?.uri).toBe('stonegate://demo/demo://readme');
    expect((await client.getPrompt({ name: 'demo__greet', arguments: { name: 'Ada' } })).messages.length).toBeGreaterThan(0);
  });

  it.each(['modern', 'legacy'] as const)('a %s client on /mcp/{server} sees that backend under its own names', async (era) => {
    const client = await connect('/mcp/other', era);
    expect(client.getProtocolEra()).toBe(era);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'direct' } }))).toBe('direct');
  });

  it('a negotiating client (versionNegotiation auto) lands on the modern era', async () => {
    const client = await connect('/mcp', 'auto');
    expect(client.getProtocolEra()).toBe('modern');
    expect(client.getDiscoverResult()?.supportedVersions).toContain('2026-07-28');
  });

  it('a modern request holds no session: the answer carries no Mcp-Session-Id', async () => {
    const response = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'demo__echo',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: 'demo__echo',
          arguments: { text: 'raw' },
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBeNull();
    const body = (await response.json()) as { result: CallToolResult };
    expect(text(body.result)).toBe('raw');
  });

  it("an agent token's server list holds for modern requests as for sessions", async () => {
    const client = await connect('/mcp', 'modern', AGENT);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('demo__echo');
    expect(names).not.toContain('other__echo');
    await expect(connect('/mcp/other', 'modern', AGENT)).rejects.toThrow();
  });

  it.each(['GET', 'DELETE'])("%s in the modern era is 405 (no session to stream or end); with a 2025 session id it is the session's", async (method) => {
    const response = await fetch(`${gw.url}/mcp`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'mcp-protocol-version': '2026-07-28', accept: 'text/event-stream' },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    const legacy = await fetch(`${gw.url}/mcp`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'mcp-session-id': 'no-such-session' } });
    expect(legacy.status).toBe(404);
  });

  it('a modern request without a token is refused before it is read (401)', async () => {
    const client = new Client({ name: 'dual-era-anon', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)))).rejects.toThrow(/401|authoriz/i);
  });
});
