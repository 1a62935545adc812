import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { postListen } from '../helpers/listen.js';

/*
 * Issue #23: 2026-07-28 has no GET stream; a client that wants change
 * notifications opens subscriptions/listen. A backend's list_changed reaches
 * such a stream through the gateway, as it reaches 2025 sessions; so does its
 * resources/updated of a URI the stream names in resourceSubscriptions (the
 * gateway subscribes on the backend for it, and lets go when the stream
 * ends); and a listen stream counts against the client's stream caps.
 */

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
args = [${q(fixture('relist-server'))}]
`);
  for (const name of ['demo', 'hints', 'other']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
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

  it("a backend's resources/updated reaches the streams that watch that URI, in their URL's naming; the backend is subscribed while they do", async () => {
    const watcher = await modern('/mcp');
    const note = 'stonegate://hints/relist://note';
    const updated: string[] = [];
    let heard: () => void = () => undefined;
    watcher.setNotificationHandler('notifications/resources/updated', async (n) => {
      updated.push(n.params.uri);
      heard();
    });
    const next = (): Promise<void> => new Promise<void>((resolve) => (heard = resolve));
    const subscription = await watcher.listen({ resourceSubscriptions: [note] });
    expect(subscription.honoredFilter.resourceSubscriptions).toEqual([note]);
    // The gateway subscribed on the backend before the acknowledgement.
    expect(await subscribers(watcher, note)).toBe(1);
    const first = next();
    await watcher.callTool({ name: 'hints__relist', arguments: { touch: true } });
    await first;
    expect(updated).toEqual([note]);
    await subscription.close();
    // Nothing watches the URI any more: the gateway unsubscribes on the backend.
    await eventually(async () => (await subscribers(watcher, note)) === 0);
  });

  it('a stream on /mcp/{server} hears only its own backend, under the URI the backend uses', async () => {
    const [hints, other] = [await modern('/mcp/hints'), await modern('/mcp/other')];
    const heard = { hints: [] as string[], other: [] as string[] };
    const waiting: Record<string, () => void> = {};
    for (const [name, client] of [
      ['hints', hints],
      ['other', other],
    ] as const) {
      client.setNotificationHandler('notifications/resources/updated', async (n) => {
        heard[name].push(n.params.uri);
        waiting[name]?.();
      });
    }
    const next = (name: 'hints' | 'other'): Promise<void> => new Promise<void>((resolve) => (waiting[name] = resolve));
    const streams = [await hints.listen({ resourceSubscriptions: ['relist://note'] }), await other.listen({ resourceSubscriptions: ['relist://note'] })];
    const onHints = next('hints');
    await hints.callTool({ name: 'relist', arguments: { touch: true } });
    await onHints;
    const onOther = next('other');
    await other.callTool({ name: 'relist', arguments: { touch: true } });
    await onOther;
    // One stream's frames arrive in order: had 'other' heard the hints backend's update, it would have come first.
    expect(heard).toEqual({ hints: ['relist://note'], other: ['relist://note'] });
    await Promise.all(streams.map((s) => s.close()));
  });
});

async function modern(path: string): Promise<Client> {
  const client = new Client({ name: 'listener', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`)));
  clients.push(client);
  return client;
}

/** How many subscriptions the relist fixture holds on its note, as it says when read. */
async function subscribers(client: Client, uri: string): Promise<number> {
  const contents = (await client.readResource({ uri }, { cacheMode: 'bypass' })).contents[0];
  return Number(/subscribers: (\d+)/.exec(contents !== undefined && 'text' in contents ? contents.text : '')?.[1]);
}

describe('issue 23: listen streams and the stream caps', () => {
  /** A raw subscriptions/listen POST; the answer's status, headers and (for a refusal) body. */
  async function listen(url: string): Promise<{ status: number; headers: Headers; body?: unknown; abort: () => void }> {
    const { response, abort } = await postListen(url, { toolsListChanged: true }, 'caps');
    const streaming = (response.headers.get('content-type') ?? '').includes('text/event-stream');
    const body = streaming ? undefined : ((await response.json()) as unknown);
    return { status: response.status, headers: response.headers, body, abort };
  }

  it('over [gateway] max_streams_per_client a listen is refused 429 (with the 2026-07-28 code) as a 2025 client over its cap is; a closed stream frees its slot', async () => {
    const capped = await startGateway('[gateway]\nmax_streams_per_client = 1\n');
    const held = await listen(capped.url);
    expect(held.status).toBe(200);
    expect(held.body).toBeUndefined();
    const over = await listen(capped.url);
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBeDefined();
    expect(over.body).toMatchObject({
      jsonrpc: '2.0',
      id: 7,
      error: {
        code: -32603, // the 2026-07-28 code for a refusal the gateway cannot take now (mcp-modern.ts refusalCode)
        message: expect.stringMatching(/^RATE_LIMITED: Client address .* holds 1 event streams.*max_streams_per_client = 1/),
        data: { code: 'RATE_LIMITED' },
      },
    });
    held.abort();
    // Freed once the gateway sees the stream's connection close.
    const again = await eventually(async () => {
      const attempt = await listen(capped.url);
      if (attempt.status === 200) return attempt;
      return undefined;
    });
    again.abort();
    await capped.stop();
  });
});
