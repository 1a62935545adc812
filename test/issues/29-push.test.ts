import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { SUBSCRIPTION_ID_META_KEY } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordResult, coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #29 item 1 ([coord-push]): coordination events reach connected MCP
 * sessions without polling — as resources (coord://inbox/{agent},
 * coord://threads/{id}) a 2025 session subscribes to, on a 2026-07-28
 * subscriptions/listen stream, and as Claude Code channel notifications for
 * a client that declares `claude/channel`. An agent is not pushed its own
 * message; a push never carries what the agent may not read. Every wait is
 * on a notification; "nothing else arrived" is checked by order (a session's
 * notifications arrive in the order of the store's events, so an echo would
 * have come before the reply awaited after it).
 * Tokens: alice, bob, carol (agents), ops (admin).
 */

const SECRETS = {
  alice: 'push-alice-secret-0001',
  bob: 'push-bob-secret-00002',
  carol: 'push-carol-secret-0003',
  ops: 'push-ops-secret-000004',
  // An agent token whose backends leave coord out.
  dave: 'push-dave-secret-00005',
};
type Agent = keyof typeof SECRETS;
const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  const tokens = Object.keys(SECRETS)
    .map(
      (name) =>
        `[[auth.tokens]]\nname = "${name}"\ntoken = "\${PUSH_${name.toUpperCase()}}"\n${name === 'ops' ? 'role = "admin"\n' : ''}${name === 'dave' ? 'servers = ["elsewhere"]\n' : ''}`,
    )
    .join('\n');
  gw = await startGateway(coordToml({}, `[auth]\n${tokens}`), {
    env: Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`PUSH_${name.toUpperCase()}`, secret])),
  });
  await coordReady(gw);
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

interface Heard {
  method: string;
  params: Record<string, unknown>;
}

/** A session of `agent` that records the notifications it is pushed; `next(n)` resolves once it has heard n of them. */
class Agent2025 {
  readonly heard: Heard[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];
  private constructor(readonly client: Client) {}

  static async open(agent: Agent | 'anonymous', options: { channel?: boolean; modern?: boolean; url?: string; name?: string } = {}): Promise<Agent2025> {
    const client = new Client(
      { name: options.name ?? `push-${agent}`, version: '1' },
      {
        capabilities: options.channel === true ? { experimental: { 'claude/channel': {} } } : {},
        ...(options.modern === true ? { versionNegotiation: { mode: { pin: '2026-07-28' as const } } } : {}),
      },
    );
    const session = new Agent2025(client);
    const record = async (n: { method: string; params?: Record<string, unknown> }): Promise<void> => session.#record(n);
    client.setNotificationHandler('notifications/resources/updated', record);
    client.fallbackNotificationHandler = record;
    const headers: Record<string, string> = agent === 'anonymous' ? {} : { authorization: `Bearer ${SECRETS[agent]}` };
    await client.connect(new StreamableHTTPClientTransport(new URL(`${options.url ?? gw.url}/mcp`), { requestInit: { headers } }));
    clients.push(client);
    return session;
  }

  #record(n: { method: string; params?: Record<string, unknown> }): void {
    if (n.method !== 'notifications/resources/updated' && n.method !== 'notifications/claude/channel') return;
    this.heard.push({ method: n.method, params: n.params ?? {} });
    for (const waiter of this.#waiters.filter((w) => this.heard.length >= w.count)) waiter.resolve();
    this.#waiters = this.#waiters.filter((w) => this.heard.length < w.count);
  }

  /** Resolves once `count` notifications in all have been heard. */
  until(count: number): Promise<void> {
    if (this.heard.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  async call(tool: string, args: Record<string, unknown>): Promise<CoordResult> {
    return coordResult(await this.client.callTool({ name: `coord__${tool}`, arguments: args }));
  }

  async ok(tool: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const result = await this.call(tool, args);
    expect(result.isError, result.text).toBe(false);
    return result.body;
  }
}

const channelNotes = (session: Agent2025): Heard[] => session.heard.filter((h) => h.method === 'notifications/claude/channel');

async function registerAll(channel: string, sessions: Record<string, Agent2025>, extra: Record<string, unknown> = {}): Promise<void> {
  for (const [agent, session] of Object.entries(sessions)) await session.ok('mux_register', { agent_id: agent, role: 'dev', channel, ...extra });
}

describe('issue 29: push into 2025-era sessions by resource subscription', () => {
  it("a message from alice updates bob's subscribed coord://inbox/bob, whose read shows it; alice is not told of her own message", async () => {
    const [alice, bob] = [await Agent2025.open('alice'), await Agent2025.open('bob')];
    await registerAll('res', { alice, bob });
    await alice.client.subscribeResource({ uri: 'coord://inbox/alice' });
    await bob.client.subscribeResource({ uri: 'coord://inbox/bob' });
    await alice.ok('mux_send', { from: 'alice', to: 'bob', content: 'lunch at noon?', channel: 'res' });
    await bob.until(1);
    expect(bob.heard[0]).toEqual({ method: 'notifications/resources/updated', params: { uri: 'coord://inbox/bob' } });
    const read = await bob.client.readResource({ uri: 'coord://inbox/bob' });
    const view = JSON.parse((read.contents[0] as { text: string }).text) as { unread: number; messages: { from: string; content: string }[] };
    expect(view.unread).toBe(1);
    expect(view.messages).toEqual([expect.objectContaining({ from: 'alice', content: 'lunch at noon?' })]);
    // The reply is alice's first notification: her own message was not pushed back to her.
    await bob.ok('mux_send', { from: 'bob', to: 'alice', content: 'yes', channel: 'res' });
    await alice.until(1);
    expect(alice.heard).toEqual([{ method: 'notifications/resources/updated', params: { uri: 'coord://inbox/alice' } }]);
    expect(bob.heard).toHaveLength(1);
  });

  it("an agent token may neither subscribe to nor read another agent's inbox", async () => {
    const bob = await Agent2025.open('bob');
    await expect(bob.client.subscribeResource({ uri: 'coord://inbox/alice' })).rejects.toThrow(/FORBIDDEN: Token 'bob' reads only its own inbox/);
    await expect(bob.client.readResource({ uri: 'coord://inbox/alice' })).rejects.toThrow(/FORBIDDEN/);
  });

  it('a token whose backends leave coord out has no coord resources, not even its own inbox', async () => {
    const dave = await Agent2025.open('dave');
    await expect(dave.client.subscribeResource({ uri: 'coord://inbox/dave' })).rejects.toThrow(/Unknown resource: coord:\/\/inbox\/dave/);
    await expect(dave.client.readResource({ uri: 'coord://inbox/dave' })).rejects.toThrow(/Unknown resource/);
  });
});

describe('issue 29: a thread as a resource', () => {
  it("both participants watch coord://threads/{id}: each post updates the other's, never its author's", async () => {
    const [alice, bob] = [await Agent2025.open('alice'), await Agent2025.open('bob')];
    await registerAll('threads', { alice, bob });
    const thread = (await alice.ok('mux_thread_open', { agent_id: 'alice', participants: ['bob'], subject: 'api shape', channel: 'threads' })) as {
      id: string;
    };
    const uri = `coord://threads/${thread.id}`;
    await alice.client.subscribeResource({ uri });
    await bob.client.subscribeResource({ uri });
    await alice.ok('mux_thread_post', { thread_id: thread.id, agent_id: 'alice', content: 'REST or RPC?' });
    await eventuallyHeard(bob, (h) => h.params.uri === uri);
    await bob.ok('mux_thread_post', { thread_id: thread.id, agent_id: 'bob', content: 'REST' });
    await alice.until(1);
    // Alice's only update is bob's post: her own post and the thread's opening were not pushed to her.
    expect(alice.heard).toEqual([{ method: 'notifications/resources/updated', params: { uri } }]);
    const read = await alice.client.readResource({ uri });
    expect((read.contents[0] as { text: string }).text).toContain('REST or RPC?');
  });
});

describe('issue 29: Claude Code channel notifications for a client that declares claude/channel', () => {
  it('a direct message arrives as notifications/claude/channel {content, meta}; the sender is not echoed', async () => {
    const [alice, bob] = [await Agent2025.open('alice', { channel: true }), await Agent2025.open('bob', { channel: true })];
    await registerAll('chan', { alice, bob });
    await alice.ok('mux_send', { from: 'alice', to: 'bob', content: 'review my PR?', channel: 'chan' });
    // The gateway declares itself a Claude Code channel, as a channel server does.
    expect(bob.client.getServerCapabilities()?.experimental).toMatchObject({ 'claude/channel': {} });
    await bob.until(1);
    expect(bob.heard[0]).toEqual({
      method: 'notifications/claude/channel',
      params: {
        content: 'review my PR?',
        meta: expect.objectContaining({ kind: 'message', from: 'alice', to: 'bob', channel: 'chan' }),
      },
    });
    await bob.ok('mux_send', { from: 'bob', to: 'alice', content: 'on it', channel: 'chan' });
    await alice.until(1);
    expect(alice.heard.map((h) => h.params.content)).toEqual(['on it']);
  });

  it("a private thread's post reaches its participant and not carol; carol may not subscribe to it", async () => {
    const [alice, bob, carol] = [
      await Agent2025.open('alice', { channel: true }),
      await Agent2025.open('bob', { channel: true }),
      await Agent2025.open('carol', { channel: true }),
    ];
    await registerAll('priv', { alice, bob, carol });
    const thread = (await alice.ok('mux_thread_open', { agent_id: 'alice', participants: ['bob'], subject: 'secret refactor', channel: 'priv' })) as {
      id: string;
    };
    await bob.until(1); // the thread's opening notice
    await alice.ok('mux_thread_post', { thread_id: thread.id, agent_id: 'alice', content: 'the plan: rename everything' });
    await bob.until(2);
    expect(channelNotes(bob)[1]?.params).toMatchObject({
      content: expect.stringContaining('rename everything'),
      meta: { kind: 'thread', thread_id: thread.id, from: 'alice' },
    });
    // Carol's first notification is the direct message sent after the thread's posts: nothing of the thread came before it.
    await alice.ok('mux_send', { from: 'alice', to: 'carol', content: 'hi carol', channel: 'priv' });
    await carol.until(1);
    expect(carol.heard.map((h) => h.params.content)).toEqual(['hi carol']);
    await expect(carol.client.subscribeResource({ uri: `coord://threads/${thread.id}` })).rejects.toThrow(/FORBIDDEN/);
    // Bob may, and reads the thread there.
    await bob.client.subscribeResource({ uri: `coord://threads/${thread.id}` });
    const read = await bob.client.readResource({ uri: `coord://threads/${thread.id}` });
    expect((read.contents[0] as { text: string }).text).toContain('rename everything');
  });

  it("a conflicting claim is pushed to the other claim's holder, and a task to the agents that can take it", async () => {
    const [alice, bob] = [await Agent2025.open('alice', { channel: true }), await Agent2025.open('bob', { channel: true })];
    await registerAll('claims', { alice, bob }, { capabilities: ['review'] });
    const mine = (await alice.ok('mux_claim_announce', { agent_id: 'alice', paths: ['src/app.ts'], intent: 'refactor', channel: 'claims' })) as {
      claim: { id: string };
    };
    await bob.ok('mux_claim_announce', { agent_id: 'bob', paths: ['src/app.ts'], intent: 'bug fix', channel: 'claims' });
    await alice.until(1);
    expect(channelNotes(alice)[0]?.params).toMatchObject({
      content: expect.stringContaining('bob announced src/app.ts'),
      meta: { kind: 'conflict', from: 'bob', your_claim_id: mine.claim.id, verdict: 'conflict' },
    });
    await alice.ok('mux_task_post', { description: 'review src/app.ts', posted_by: 'alice', required_capability: 'review', channel: 'claims' });
    await eventuallyHeard(bob, (h) => h.params.meta !== undefined && (h.params.meta as Record<string, string>).kind === 'task');
  });
});

describe('issue 29: 2026-07-28 clients through subscriptions/listen', () => {
  it("bob's listen stream naming coord://inbox/bob hears alice's message; a stream naming alice's inbox is refused", async () => {
    const [alice, bob] = [await Agent2025.open('alice'), await Agent2025.open('bob', { modern: true })];
    await registerAll('listen', { alice, bob });
    const subscription = await bob.client.listen({ resourceSubscriptions: ['coord://inbox/bob'] });
    expect(subscription.honoredFilter.resourceSubscriptions).toEqual(['coord://inbox/bob']);
    await alice.ok('mux_send', { from: 'alice', to: 'bob', content: 'modern hello', channel: 'listen' });
    await bob.until(1);
    expect(bob.heard[0]).toMatchObject({ method: 'notifications/resources/updated', params: { uri: 'coord://inbox/bob' } });
    // Tagged with the stream's subscription id, as every listen notification is.
    expect((bob.heard[0]?.params._meta as Record<string, unknown> | undefined)?.[SUBSCRIPTION_ID_META_KEY]).toEqual(expect.any(String));
    const read = await bob.client.readResource({ uri: 'coord://inbox/bob' }, { cacheMode: 'bypass' });
    expect((read.contents[0] as { text: string }).text).toContain('modern hello');
    await subscription.close();
    await expect(bob.client.listen({ resourceSubscriptions: ['coord://inbox/alice'] })).rejects.toThrow(/FORBIDDEN/);
  });
});

describe('issue 29: without tokens, a session is the agent it registers', () => {
  it('a Claude Code session that registered dan is pushed what is sent to dan; a thread needs an agent first', async () => {
    const open = await startGateway(coordToml());
    await coordReady(open);
    const [dan, erin] = [
      // Claude Code hears channel notifications without declaring the capability: its client name says it.
      await Agent2025.open('anonymous', { url: open.url, name: 'claude-code' }),
      await Agent2025.open('anonymous', { channel: true, url: open.url }),
    ];
    await expect(dan.client.subscribeResource({ uri: 'coord://threads/t-1' })).rejects.toThrow(/BAD_REQUEST: A thread is read as an agent/);
    await dan.ok('mux_register', { agent_id: 'dan', role: 'dev' });
    await erin.ok('mux_register', { agent_id: 'erin', role: 'dev' });
    await erin.ok('mux_send', { from: 'erin', to: 'dan', content: 'hello dan' });
    await dan.until(1);
    expect(dan.heard[0]?.params).toMatchObject({ content: 'hello dan', meta: { from: 'erin', to: 'dan' } });
    await dan.ok('mux_send', { from: 'dan', to: 'erin', content: 'hello erin' });
    await erin.until(1);
    expect(erin.heard.map((h) => h.params.content)).toEqual(['hello erin']);
  });
});

describe('issue 29: a gateway without MCP sessions', () => {
  it('is no Claude Code channel and refuses a coord resource subscription (nothing could be pushed); the inbox still reads', async () => {
    const stateless = await startGateway(coordToml({}, '[gateway]\nmcp_sessions = "stateless"'));
    await coordReady(stateless);
    const fay = await Agent2025.open('anonymous', { url: stateless.url });
    expect(fay.client.getServerCapabilities()?.experimental?.['claude/channel']).toBeUndefined();
    await fay.ok('mux_register', { agent_id: 'fay', role: 'dev' });
    await expect(fay.client.subscribeResource({ uri: 'coord://inbox/fay' })).rejects.toThrow(/BAD_REQUEST: .* without an MCP session/);
    const read = await fay.client.readResource({ uri: 'coord://inbox/fay' });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ agent_id: 'fay', unread: 0, messages: [] });
  });
});

/** Waits for the session to hear a notification matching `match` (awaited, not polled: each arrival re-checks). */
async function eventuallyHeard(session: Agent2025, match: (h: Heard) => boolean): Promise<Heard> {
  for (let count = 1; ; count += 1) {
    await session.until(count);
    const found = session.heard.find(match);
    if (found !== undefined) return found;
  }
}
