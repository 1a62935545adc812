import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, expect, it } from 'vitest';
import { coordReady } from '../helpers/coord-harness.js';
import { q, startGateway, stopAll } from '../helpers/harness.js';
import { describePg, useTestDatabase } from '../helpers/pg.js';

/*
 * Issue #29 item 1 ([coord-push]) across gateways: two gateways on one
 * PostgreSQL, each reading the store's event stream once; a message sent
 * through one is pushed (claude/channel) to a session on the other.
 */

const clients: Client[] = [];
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

/** A session on `url` that declared claude/channel; resolves `heard` with the first channel notification's params. */
async function channelSession(url: string): Promise<{ client: Client; heard: Promise<Record<string, unknown>> }> {
  const client = new Client({ name: 'push-pg', version: '1' }, { capabilities: { experimental: { 'claude/channel': {} } } });
  const heard = new Promise<Record<string, unknown>>((resolve) => {
    client.fallbackNotificationHandler = async (n) => {
      if (n.method === 'notifications/claude/channel') resolve((n.params ?? {}) as Record<string, unknown>);
    };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  clients.push(client);
  return { client, heard };
}

describePg('issue 29: push across gateways on one PostgreSQL', () => {
  const database = useTestDatabase('push');

  it('a message sent through one gateway is pushed to a session on the other', { timeout: 120_000 }, async () => {
    const toml = `[store]\nurl = ${q(database.url)}\npool_size = 4\n\n[coordination]\n`;
    const [one, two] = [await startGateway(toml), await startGateway(toml)];
    await Promise.all([coordReady(one), coordReady(two)]);
    const [alice, bob] = [await channelSession(one.url), await channelSession(two.url)];
    const call = (c: Client, name: string, args: Record<string, unknown>) => c.callTool({ name: `coord__${name}`, arguments: args });
    await call(alice.client, 'mux_register', { agent_id: 'alice', role: 'dev' });
    await call(bob.client, 'mux_register', { agent_id: 'bob', role: 'dev' });
    const sent = await call(alice.client, 'mux_send', { from: 'alice', to: 'bob', content: 'across gateways' });
    expect(sent.isError).not.toBe(true);
    expect(await bob.heard).toMatchObject({ content: 'across gateways', meta: { from: 'alice', to: 'bob', kind: 'message' } });
  });
});
