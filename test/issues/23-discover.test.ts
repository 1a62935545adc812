import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #23 item 3: server/discover shows a 2026-07-28 client the extensions
 * of the backends behind the URL — on /mcp the union over the backends its
 * view shows, on /mcp/{server} that backend's own. A 2025 client sees the
 * same extensions in its initialize result.
 */

const RELIST = 'io.stonegate.test/relist';
const OTHER = 'io.stonegate.test/other';
let gw: RunningGateway;
const clients: Client[] = [];

beforeAll(async () => {
  gw = await startGateway(`${demoBackend()}
[[backends]]
name = "hints"
command = "node"
args = [${q(fixture('relist-server'))}]

[[backends]]
name = "other"
command = "node"
args = [${q(fixture('relist-server'))}, ${q(OTHER)}]
`);
  for (const name of ['demo', 'hints', 'other']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

async function connect(era: 'modern' | 'legacy', path: string): Promise<Client> {
  // Without versionNegotiation the SDK client speaks 2025 (initialize).
  const client = new Client({ name: `discover-${era}`, version: '1' }, era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  clients.push(client);
  expect(client.getProtocolEra()).toBe(era);
  return client;
}

describe('issue 23: extensions in server/discover', () => {
  it("/mcp shows a 2026-07-28 client every extension its backends advertise; ?servers= narrows it to the view's", async () => {
    const all = (await connect('modern', '/mcp')).getDiscoverResult()?.capabilities.extensions;
    expect(all).toEqual({ [RELIST]: { from: 'relist-fixture' }, [OTHER]: { from: 'relist-fixture' } });
    const narrowed = (await connect('modern', '/mcp?servers=hints,demo')).getDiscoverResult()?.capabilities.extensions;
    expect(narrowed).toEqual({ [RELIST]: { from: 'relist-fixture' } });
    expect((await connect('modern', '/mcp?servers=demo')).getDiscoverResult()?.capabilities).not.toHaveProperty('extensions');
  });

  it("/mcp/{server} mirrors that backend's extensions", async () => {
    expect((await connect('modern', '/mcp/other')).getDiscoverResult()?.capabilities.extensions).toEqual({ [OTHER]: { from: 'relist-fixture' } });
    expect((await connect('modern', '/mcp/demo')).getDiscoverResult()?.capabilities).not.toHaveProperty('extensions');
  });

  it('a 2025 client sees the same extensions at initialize', async () => {
    expect((await connect('legacy', '/mcp')).getServerCapabilities()?.extensions).toEqual({
      [RELIST]: { from: 'relist-fixture' },
      [OTHER]: { from: 'relist-fixture' },
    });
    expect((await connect('legacy', '/mcp/hints')).getServerCapabilities()?.extensions).toEqual({ [RELIST]: { from: 'relist-fixture' } });
  });
});
