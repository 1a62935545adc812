import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #23: 2026-07-28 has no GET stream; a client that wants change
 * notifications opens subscriptions/listen. A backend's list_changed reaches
 * such a stream through the gateway, as it reaches 2025 sessions.
 */

let gw: RunningGateway;
const clients: Client[] = [];

beforeAll(async () => {
  gw = await startGateway(`${demoBackend()}
[[backends]]
name = "hints"
command = "node"
args = [${q(fixture('relist-server'))}]
`);
  for (const name of ['demo', 'hints']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

describe('issue 23: subscriptions/listen', () => {
  it("a 2026-07-28 client's listen stream hears a backend's tools and prompts list_changed", async () => {
    const client = new Client({ name: 'listener', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
    clients.push(client);
    const tools = new Promise<void>((resolve) => client.setNotificationHandler('notifications/tools/list_changed', async () => resolve()));
    const prompts = new Promise<void>((resolve) => client.setNotificationHandler('notifications/prompts/list_changed', async () => resolve()));
    const subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true });
    expect(subscription.honoredFilter).toMatchObject({ toolsListChanged: true, promptsListChanged: true });
    await client.callTool({ name: 'hints__relist', arguments: {} });
    await Promise.all([tools, prompts]);
    const names = (await client.listTools(undefined, { cacheMode: 'bypass' })).tools.map((t) => t.name);
    expect(names).toContain('hints__added_1');
    await subscription.close();
  });
});
