import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pingAll } from '../../src/supervisor/health.js';
import { fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #24 item 2, limits of the rounds toward a 2026-07-28 backend: the
 * gateway answers at most 8 input_required rounds per call for a 2025
 * caller (a looping backend fails the call, clearly), and a 2026-07-28
 * caller's log level reaches the backend with its request.
 */

const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(`
[[backends]]
name = "endless"
command = "node"
args = [${q(fixture('endless-input-server'))}]
protocol = "2026-07-28"
`);
  await gw.waitForLog((l) => l.msg === 'backend ready');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

async function connect(era: 'modern' | 'legacy', asked: string[] = []): Promise<Client> {
  const client = new Client({ name: `endless-${era}`, version: '1' }, {
    capabilities: { elicitation: {} },
    ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } }, inputRequired: { autoFulfill: false } } : {}),
  } as ConstructorParameters<typeof Client>[1]);
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push(String(request.params.message));
    return { action: 'accept', content: { name: 'Ada' } };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/endless`)));
  clients.push(client);
  return client;
}

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;

describe('issue 24: rounds toward a 2026-07-28 backend', () => {
  it('a 2025 caller is asked 8 rounds at most; a backend that asks a ninth time fails the call with BACKEND_ERROR', async () => {
    const asked: string[] = [];
    const client = await connect('legacy', asked);
    const result = (await client.callTool({ name: 'always_asks', arguments: {} })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^BACKEND_ERROR: Backend 'endless' still asked for input after 8 rounds of tools\/call always_asks/);
    expect(asked).toHaveLength(8);
    expect(asked[0]).toMatch(/what is your name\?$/);
  });

  it('a 2026-07-28 caller gets each round itself (the gateway counts none)', async () => {
    const client = await connect('modern');
    const first = (await client.callTool({ name: 'always_asks', arguments: {} }, { allowInputRequired: true })) as Record<string, unknown>;
    expect(first.resultType).toBe('input_required');
    expect(Object.keys(first.inputRequests as object)).toEqual(['name']);
  });

  it("a caller's log level (a 2026-07-28 request's, a 2025 session's setLevel) goes to the backend, and the backend's log reaches it", async () => {
    const client = await connect('modern');
    const seen: string[] = [];
    client.setNotificationHandler('notifications/message', async (n) => {
      seen.push(`${n.params.level}:${String(n.params.data)}`);
    });
    const call = (logLevel?: string) =>
      client.callTool({ name: 'logs_at_info', arguments: {}, ...(logLevel === undefined ? {} : { _meta: { 'io.modelcontextprotocol/logLevel': logLevel } }) });
    expect(text(await call())).toBe('logLevel=undefined');
    expect(text(await call('info'))).toBe('logLevel=info');
    expect(seen).toEqual(['info:logs_at_info ran']);
    // A 2025 session's logging/setLevel goes along with its later calls.
    const legacy = await connect('legacy');
    const heard: string[] = [];
    legacy.setNotificationHandler('notifications/message', async (n) => {
      heard.push(`${n.params.level}:${String(n.params.data)}`);
    });
    expect(text(await legacy.callTool({ name: 'logs_at_info', arguments: {} }))).toBe('logLevel=undefined');
    await legacy.setLoggingLevel('info');
    expect(text(await legacy.callTool({ name: 'logs_at_info', arguments: {} }))).toBe('logLevel=info');
    expect(heard).toEqual(['info:logs_at_info ran']);
  });
});

describe('issue 24: health checks of a 2026-07-28 backend', () => {
  it('that era has no ping: a 2026-07-28 connection is checked with server/discover', async () => {
    const client = new Client({ name: 'health', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [fixture('conformance-modern-server')] }));
    try {
      await expect(client.ping({ timeout: 5_000 })).rejects.toThrow(/not supported by the negotiated protocol version/);
      await expect(pingAll([{ alive: true, era: 'modern', client }], 5_000)).resolves.toBeUndefined();
    } finally {
      await client.close();
    }
  });
});
