import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #23 item 4 and the modern capabilities: a 2026-07-28 client's lists,
 * reads and server/discover carry cache hints (ttlMs counting down from
 * [gateway] schema_cache_ttl since the oldest listing it sees, back up after
 * a backend's list_changed; `private` with auth, `public` without), a
 * 2025-era client's results carry none; tools/list comes in a fixed order on
 * both eras; the modern capabilities leave out what the era has no method
 * for (2025 tasks).
 */

const TOKEN = 'cache-hints-admin-token-5e31';
const clients: Client[] = [];
let open: RunningGateway;
let authed: RunningGateway;

const config = (extra = ''): string => `[gateway]
schema_cache_ttl = 600

${demoBackend()}

[[backends]]
name = "hints"
command = "node"
args = [${q(fixture('relist-server'))}]
${extra}`;

beforeAll(async () => {
  [open, authed] = await Promise.all([
    startGateway(config()),
    startGateway(config(`\n[auth]\n[[auth.tokens]]\nname = "root"\nrole = "admin"\ntoken = "\${HINTS_TOKEN}"\n`), { env: { HINTS_TOKEN: TOKEN } }),
  ]);
  for (const gw of [open, authed]) {
    for (const name of ['demo', 'hints']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
  }
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

async function connect(gw: RunningGateway, era: 'modern' | 'legacy', path = '/mcp'): Promise<Client> {
  const options = era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {};
  const client = new Client({ name: `hints-${era}`, version: '1' }, options as ConstructorParameters<typeof Client>[1]);
  const headers: Record<string, string> = gw === authed ? { authorization: `Bearer ${TOKEN}` } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`), { requestInit: { headers } }));
  clients.push(client);
  expect(client.getProtocolEra()).toBe(era);
  return client;
}

// The client caches by the hints it gets; these tests look at every answer.
const fresh = { cacheMode: 'bypass' } as const;

interface Hinted {
  ttlMs?: number;
  cacheScope?: string;
}

describe('issue 23.4: cache hints for 2026-07-28 clients', () => {
  it('tools/list and server/discover carry ttlMs within schema_cache_ttl, public with auth off', async () => {
    const client = await connect(open, 'modern');
    const listed = (await client.listTools()) as Hinted;
    expect(listed.cacheScope).toBe('public');
    expect(listed.ttlMs).toBeGreaterThan(0);
    expect(listed.ttlMs).toBeLessThanOrEqual(600_000);
    const discovered = client.getDiscoverResult() as Hinted | undefined;
    expect(discovered?.cacheScope).toBe('public');
    expect(discovered?.ttlMs).toBeGreaterThan(0);
    expect(discovered?.ttlMs).toBeLessThanOrEqual(600_000);
  });

  it('every list is private with auth on (the view depends on the token), and a read has ttlMs 0', async () => {
    const client = await connect(authed, 'modern');
    const answers = [
      await client.listTools(undefined, fresh),
      await client.listPrompts(undefined, fresh),
      await client.listResources(undefined, fresh),
      await client.listResourceTemplates(undefined, fresh),
    ] as Hinted[];
    for (const answer of answers) {
      expect(answer.cacheScope).toBe('private');
      expect(answer.ttlMs).toBeGreaterThan(0);
    }
    expect((client.getDiscoverResult() as Hinted | undefined)?.cacheScope).toBe('private');
    const read = (await client.readResource({ uri: 'stonegate://demo/demo://readme' }, fresh)) as Hinted;
    expect(read).toMatchObject({ ttlMs: 0, cacheScope: 'private' });
  });

  it('ttlMs counts down, and goes back up after the backend says list_changed', async () => {
    const modern = await connect(open, 'modern', '/mcp/hints');
    const ttl = async (client: Client): Promise<number> => ((await client.listTools(undefined, fresh)) as Hinted).ttlMs ?? -1;
    const promptTtl = async (): Promise<number> => ((await modern.listPrompts(undefined, fresh)) as Hinted).ttlMs ?? -1;
    const first = await ttl(modern);
    const before = await eventually(async () => {
      const now = await ttl(modern);
      return now < first ? now : undefined;
    });
    const promptsBefore = await promptTtl();
    // A 2025 session hears the gateway's own list_changed once the catalog holds the new listing.
    const legacy = await connect(open, 'legacy', '/mcp/hints');
    const changed = new Promise<void>((resolve) => legacy.setNotificationHandler('notifications/tools/list_changed', async () => resolve()));
    const promptsChanged = new Promise<void>((resolve) => legacy.setNotificationHandler('notifications/prompts/list_changed', async () => resolve()));
    await modern.callTool({ name: 'relist', arguments: {} });
    await Promise.all([changed, promptsChanged]);
    const after = (await modern.listTools(undefined, fresh)) as Hinted & { tools: { name: string }[] };
    expect(after.tools.map((t) => t.name)).toContain('added_1');
    expect(after.ttlMs).toBeGreaterThan(before);
    expect(await promptTtl()).toBeGreaterThan(promptsBefore);
    // On /mcp the demo backend's older listing still sets the hint: the oldest listing a view sees counts.
    const all = await connect(open, 'modern');
    const everything = await ttl(all);
    expect(everything).toBeLessThan(await ttl(modern));
  });

  it("a 2025-era client's lists, reads and initialize carry no cache hints", async () => {
    const client = await connect(authed, 'legacy');
    const answers = [
      await client.listTools(),
      await client.listPrompts(),
      await client.listResources(),
      await client.readResource({ uri: 'stonegate://demo/demo://readme' }),
    ];
    for (const answer of answers) {
      expect(answer).not.toHaveProperty('ttlMs');
      expect(answer).not.toHaveProperty('cacheScope');
    }
  });
});

describe('issue 23.4: tools/list in a fixed order', () => {
  it.each(['modern', 'legacy'] as const)('a %s client gets proxied tools by name, then the gate tools', async (era) => {
    const client = await connect(open, era);
    const names = (await client.listTools()).tools.map((t) => t.name);
    const gate = names.filter((n) => n.startsWith('gate_'));
    const proxied = names.slice(0, names.length - gate.length);
    expect(names.slice(proxied.length)).toEqual(gate);
    expect(proxied).toEqual([...proxied].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(proxied.indexOf('hints__alpha')).toBeLessThan(proxied.indexOf('hints__zulu'));
    const single = await connect(open, era, '/mcp/hints');
    // (added_<n>: tools another test had the fixture add.)
    const own = (await single.listTools()).tools.map((t) => t.name).filter((n) => !n.startsWith('added_'));
    expect(own).toEqual(['alpha', 'mike', 'relist', 'zulu']);
  });
});

describe('issue 23: capabilities a 2026-07-28 client is shown', () => {
  it.each(['/mcp', '/mcp/hints'])(
    '%s advertises no 2025 tasks to a modern client (resources.subscribe: listen takes resourceSubscriptions); a 2025 client keeps them',
    async (path) => {
      const modern = await connect(open, 'modern', path);
      const capabilities = modern.getDiscoverResult()?.capabilities ?? {};
      expect(capabilities).not.toHaveProperty('tasks');
      expect(capabilities.resources?.subscribe).toBe(true);
      expect(capabilities.tools).toBeDefined();
      const legacy = await connect(open, 'legacy', path);
      expect(legacy.getServerCapabilities()).toHaveProperty('tasks');
      expect(legacy.getServerCapabilities()?.resources?.subscribe).toBe(true);
    },
  );
});
