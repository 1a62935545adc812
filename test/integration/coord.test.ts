import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CoordSession, coordReady, coordResult, coordToml, quantile, report, rest, SessionSet } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { eventsOf, readSse, type SseFrame } from '../helpers/sse.js';

/*
 * The coordination backend mounted in a real gateway process: the stonemux
 * API end to end over both of the gateway's surfaces — MCP tools
 * `coord__mux_*` on /mcp (router, pool, breaker) and REST under /coord —
 * and the two surfaces seeing each other's writes.
 */

let gw: RunningGateway;
const sessions = new SessionSet();

beforeAll(async () => {
  gw = await startGateway(coordToml());
  await coordReady(gw);
});
afterEach(() => sessions.closeAll());
afterAll(stopAll);

interface Msg {
  id: number;
  from: string;
  to: string | null;
  content: string;
  channel: string;
}
interface TaskView {
  id: string;
  status: string;
  claimed_by: string | null;
  epoch: number;
  result: string | null;
}

const messagesOf = (body: Record<string, unknown>): Msg[] => body.messages as Msg[];

describe('stonemux quick start through the gateway', () => {
  it('over REST /coord: register two agents, send, poll; post, claim, complete', async () => {
    const researcher = await rest(gw, 'POST', '/agent/register', {
      agent_id: 'researcher',
      role: 'research',
      capabilities: ['web-search', 'analysis'],
      channel: 'default',
    });
    expect(researcher).toMatchObject({ created: true, agent: { id: 'researcher', role: 'research', status: 'active' } });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'writer', role: 'writing', capabilities: ['content-creation'], channel: 'default' });
    const sent = await rest(gw, 'POST', '/msg/send', { from: 'researcher', to: 'writer', content: 'Analysis complete. Top 3 competitors identified.' });
    expect(sent.id).toEqual(expect.any(Number));
    const polled = await rest(gw, 'GET', '/msg/poll?agent_id=writer&timeout=5');
    expect(messagesOf(polled)).toMatchObject([
      { id: sent.id, from: 'researcher', to: 'writer', content: 'Analysis complete. Top 3 competitors identified.', channel: 'default' },
    ]);
    expect(polled.next_cursor).toBe(sent.id);

    const posted = await rest(gw, 'POST', '/task/post', {
      description: 'Draft competitive analysis report',
      posted_by: 'researcher',
      required_capability: 'content-creation',
      priority: 5,
    });
    expect(posted).toMatchObject({ status: 'pending', priority: 5, required_capability: 'content-creation' });
    const claim = await rest(gw, 'POST', '/task/claim', { agent_id: 'writer' });
    expect(claim).toMatchObject({ task: { id: posted.id, status: 'claimed', claimed_by: 'writer' }, lease: { task_id: posted.id, epoch: 1 } });
    const lease = claim.lease as { epoch: number };
    const done = await rest(gw, 'POST', '/task/complete', { task_id: posted.id, agent_id: 'writer', epoch: lease.epoch, result: 'Report drafted. 3 pages.' });
    expect(done).toMatchObject({ id: posted.id, status: 'complete', result: 'Report drafted. 3 pages.' });
    const complete = (await rest(gw, 'GET', '/task/list?status=complete')).tasks as TaskView[];
    expect(complete.map((t) => t.id)).toContain(posted.id);
  });

  it('over MCP /mcp (coord__mux_*): the same steps, routed through the gateway', async () => {
    const agent = await sessions.open(gw.url, 'quick-start');
    const names = (await agent.client.listTools()).tools.map((t) => t.name);
    for (const tool of ['mux_register', 'mux_send', 'mux_poll', 'mux_task_post', 'mux_task_claim', 'mux_task_complete', 'mux_state_set'])
      expect(names).toContain(`coord__${tool}`);

    await agent.ok('mux_register', { agent_id: 'mcp-researcher', role: 'research', capabilities: ['analysis'] });
    await agent.ok('mux_register', { agent_id: 'mcp-writer', role: 'writing', capabilities: ['mcp-writing'] });
    const sent = await agent.ok('mux_send', { from: 'mcp-researcher', to: 'mcp-writer', content: 'Ready for the draft.' });
    const polled = await agent.ok('mux_poll', { agent_id: 'mcp-writer', timeout: 5 });
    expect(messagesOf(polled)).toMatchObject([{ id: sent.id, from: 'mcp-researcher', content: 'Ready for the draft.' }]);

    const posted = await agent.ok('mux_task_post', {
      description: 'Draft the report',
      posted_by: 'mcp-researcher',
      required_capability: 'mcp-writing',
      priority: 5,
      metadata: { pages: 3 },
    });
    const claim = await agent.ok('mux_task_claim', { agent_id: 'mcp-writer' });
    expect(claim).toMatchObject({ task: { id: posted.id, claimed_by: 'mcp-writer', metadata: { pages: 3 } }, lease: { epoch: 1 } });
    const done = await agent.ok('mux_task_complete', { task_id: posted.id, agent_id: 'mcp-writer', epoch: 1, result: 'Drafted.' });
    expect(done).toMatchObject({ status: 'complete', result: 'Drafted.' });
    // The REST view agrees: one store behind both surfaces.
    const task = ((await rest(gw, 'GET', '/task/list?claimed_by=mcp-writer')).tasks as TaskView[])[0];
    expect(task).toMatchObject({ id: posted.id, status: 'complete' });
  });
});

describe('/mcp/coord', () => {
  it('serves the coord tools under their own names, as if connected to the backend directly', async () => {
    const client = new Client({ name: 'direct', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/coord`)));
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('mux_send');
      expect(names.every((n) => n.startsWith('mux_'))).toBe(true);
      const registered = coordResult(await client.callTool({ name: 'mux_register', arguments: { agent_id: 'direct-agent', role: 'r' } }));
      expect(registered.body).toMatchObject({ agent: { id: 'direct-agent' } });
    } finally {
      await client.close();
    }
  });
});

describe('both surfaces, one store', () => {
  it('a message sent over MCP is polled over REST, and one sent over REST is polled over MCP', async () => {
    const agent = await sessions.open(gw.url);
    await rest(gw, 'POST', '/agent/register', { agent_id: 'x-rest', role: 'r' });
    await agent.ok('mux_register', { agent_id: 'x-mcp', role: 'r' });

    const overMcp = await agent.ok('mux_send', { from: 'x-mcp', to: 'x-rest', content: 'sent over MCP' });
    expect(messagesOf(await rest(gw, 'GET', '/msg/poll?agent_id=x-rest&timeout=2'))).toMatchObject([
      { id: overMcp.id, from: 'x-mcp', content: 'sent over MCP' },
    ]);

    const overRest = await rest(gw, 'POST', '/msg/send', { from: 'x-rest', to: 'x-mcp', content: 'sent over REST' });
    expect(messagesOf(await agent.ok('mux_poll', { agent_id: 'x-mcp', timeout: 2 }))).toMatchObject([
      { id: overRest.id, from: 'x-rest', content: 'sent over REST' },
    ]);

    // A long-poll waiting on one surface is woken by a send on the other.
    const waiting = rest(gw, 'GET', '/msg/poll?agent_id=x-rest&timeout=10');
    await new Promise((r) => setTimeout(r, 50)); // let the poll reach the store and wait; nothing observable marks that
    await agent.ok('mux_send', { from: 'x-mcp', to: 'x-rest', content: 'wake up' });
    expect(messagesOf(await waiting).map((m) => m.content)).toEqual(['wake up']);
  });

  it('a CAS conflict is 409 with the current version on REST and an isError CONFLICT result on MCP', async () => {
    const agent = await sessions.open(gw.url);
    const first = await rest(gw, 'POST', '/state/set', {
      key: 'deployment-status',
      value: 'in-progress',
      channel: 'ops',
      expected_version: 0,
      updated_by: 'deployer',
    });
    expect(first).toMatchObject({ key: 'deployment-status', version: 1, value: 'in-progress' });
    const second = await agent.ok('mux_state_set', { key: 'deployment-status', value: 'testing', channel: 'ops', expected_version: 1 });
    expect(second.version).toBe(2);

    const stale = await gw.request('POST', '/coord/state/set', { key: 'deployment-status', value: 'complete', channel: 'ops', expected_version: 1 });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'CONFLICT', current_version: 2, current_value: 'testing' });
    expect(String(stale.body.error)).toMatch(/version 2/);

    const refused = await agent.call('mux_state_set', { key: 'deployment-status', value: 'complete', channel: 'ops', expected_version: 1 });
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/^CONFLICT: /);
    expect(refused.body).toMatchObject({ code: 'CONFLICT', current_version: 2 });
    expect(refused.meta?.['stonegate/error']).toEqual({ code: 'CONFLICT' });

    // The same refusal through POST /call: the tool ran, so 200 with the isError result.
    const viaCall = await gw.request('POST', '/call', {
      server: 'coord',
      tool: 'mux_state_set',
      arguments: { key: 'deployment-status', value: 'x', channel: 'ops', expected_version: 0 },
    });
    expect(viaCall.status).toBe(200);
    expect(viaCall.body.result).toMatchObject({ isError: true, structuredContent: { code: 'CONFLICT', current_version: 2 } });

    // Nothing was written by the refusals; a write with the version read succeeds.
    expect(await rest(gw, 'GET', '/state/get?key=deployment-status&channel=ops')).toMatchObject({ version: 2, value: 'testing' });
    expect(await agent.ok('mux_state_set', { key: 'deployment-status', value: 'complete', channel: 'ops', expected_version: 2 })).toMatchObject({ version: 3 });
  });
});

describe('a long poll whose caller gave up', () => {
  it('does not take a message that arrives after the caller left (REST abort, MCP cancel)', async () => {
    const agent = await sessions.open(gw.url);
    await rest(gw, 'POST', '/agent/register', { agent_id: 'quitter-tx', role: 'r' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'quitter-rest', role: 'r' });
    await agent.ok('mux_register', { agent_id: 'quitter-mcp', role: 'r' });

    const restAbort = new AbortController();
    const restPoll = fetch(`${gw.url}/coord/msg/poll?agent_id=quitter-rest&timeout=20`, { signal: restAbort.signal }).catch((e: unknown) => e);
    const mcpAbort = new AbortController();
    const mcpPoll = agent.client
      .callTool({ name: 'coord__mux_poll', arguments: { agent_id: 'quitter-mcp', timeout: 20 } }, { signal: mcpAbort.signal })
      .catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100)); // both parked
    restAbort.abort();
    mcpAbort.abort(); // the SDK sends notifications/cancelled; the gateway passes it on to coord
    expect(await restPoll).toBeInstanceOf(Error);
    expect(await mcpPoll).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 100)); // let the cancellations reach the store

    await rest(gw, 'POST', '/msg/send', { from: 'quitter-tx', to: 'quitter-rest', content: 'still here (rest)' });
    await rest(gw, 'POST', '/msg/send', { from: 'quitter-tx', to: 'quitter-mcp', content: 'still here (mcp)' });
    expect(messagesOf(await rest(gw, 'GET', '/msg/poll?agent_id=quitter-rest&timeout=2')).map((m) => m.content)).toEqual(['still here (rest)']);
    expect(messagesOf(await agent.ok('mux_poll', { agent_id: 'quitter-mcp', timeout: 2 })).map((m) => m.content)).toEqual(['still here (mcp)']);
  });
});

describe('channel isolation', () => {
  it('keeps messages, tasks, state and events of one channel away from another', async () => {
    const agent = await sessions.open(gw.url);
    await rest(gw, 'POST', '/channel/create', { name: 'red', created_by: 'it' });
    await agent.ok('mux_channel_create', { name: 'blue', created_by: 'it' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'r1', role: 'w', capabilities: ['fix'], channel: 'red' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'r2', role: 'w', capabilities: ['fix'], channel: 'red' });
    await agent.ok('mux_register', { agent_id: 'b1', role: 'w', capabilities: ['fix'], channel: 'blue' });

    const blueEvents = await fetch(`${gw.url}/coord/events?channel=blue`, { headers: { accept: 'text/event-stream' } });
    expect(blueEvents.status).toBe(200);

    // Messages: only to agents of the channel sent on.
    await rest(gw, 'POST', '/msg/send', { from: 'r1', to: 'r2', channel: 'red', content: 'red only' });
    const crossing = await gw.request('POST', '/coord/msg/send', { from: 'r1', to: 'b1', channel: 'red', content: 'into blue?' });
    expect(crossing.status).toBe(404);
    expect(crossing.body.code).toBe('UNKNOWN_AGENT');
    const crossingMcp = await agent.call('mux_send', { from: 'r1', to: 'b1', channel: 'red', content: 'into blue?' });
    expect(crossingMcp.isError).toBe(true);
    expect(crossingMcp.body.code).toBe('UNKNOWN_AGENT');
    expect(messagesOf(await agent.ok('mux_poll', { agent_id: 'b1', channel: 'blue', timeout: 0 }))).toEqual([]);
    expect(messagesOf(await rest(gw, 'GET', '/msg/poll?agent_id=r2&channel=red&timeout=0')).map((m) => m.content)).toEqual(['red only']);

    // Tasks: a blue agent cannot claim a red task.
    const task = await rest(gw, 'POST', '/task/post', { description: 'red work', posted_by: 'r1', required_capability: 'fix', channel: 'red' });
    expect(await agent.ok('mux_task_claim', { agent_id: 'b1', channel: 'blue' })).toMatchObject({ task: null, lease: null });
    const wrongChannel = await agent.call('mux_task_claim', { agent_id: 'b1', channel: 'red' });
    expect(wrongChannel.isError).toBe(true);
    expect(((await rest(gw, 'GET', '/task/list?channel=blue')).tasks as TaskView[]).length).toBe(0);
    expect(await rest(gw, 'POST', '/task/claim', { agent_id: 'r2', channel: 'red' })).toMatchObject({ task: { id: task.id, claimed_by: 'r2' } });

    // State: the same key is two keys.
    await rest(gw, 'POST', '/state/set', { key: 'k', value: 'red value', channel: 'red' });
    expect(await agent.ok('mux_state_get', { key: 'k', channel: 'blue' })).toMatchObject({ version: 0, value: null });
    expect(await agent.ok('mux_state_get', { key: 'k', channel: 'red' })).toMatchObject({ version: 1, value: 'red value' });

    // Events: a stream filtered to blue sees blue's write and none of red's.
    await agent.ok('mux_state_set', { key: 'k', value: 'blue value', channel: 'blue' });
    const frames = eventsOf(await readSse(blueEvents.body!, (f) => eventsOf(f).some((e) => e.event === 'state_changed'), 5000));
    expect(frames.length).toBeGreaterThan(0);
    for (const frame of frames) expect(JSON.parse(frame.data)).toMatchObject({ channel: 'blue' });
    expect(frames.map((f) => f.event)).toContain('state_changed');
  });
});

describe('SSE through the gateway', () => {
  it('a client that reconnects to /coord/events with Last-Event-ID misses nothing written over either surface', async () => {
    const agent = await sessions.open(gw.url);
    await rest(gw, 'POST', '/agent/register', { agent_id: 'sse-a', role: 'r' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'sse-b', role: 'r' });

    const first = await fetch(`${gw.url}/coord/events`, { headers: { accept: 'text/event-stream' } });
    expect(first.headers.get('content-type')).toMatch(/text\/event-stream/);
    const expected: string[] = [];
    const send = async (surface: 'rest' | 'mcp', content: string): Promise<void> => {
      expected.push(content);
      if (surface === 'rest') await rest(gw, 'POST', '/msg/send', { from: 'sse-a', to: 'sse-b', content });
      else await agent.ok('mux_send', { from: 'sse-b', to: 'sse-a', content });
    };
    for (let i = 0; i < 6; i += 1) await send(i % 2 === 0 ? 'rest' : 'mcp', `before-${i}`);

    // Read three events, then drop the connection mid-stream.
    const seenFirst = eventsOf(await readSse(first.body!, (f) => eventsOf(f).length >= 3));
    expect(seenFirst.length).toBeGreaterThanOrEqual(3);
    const kept = seenFirst.slice(0, 3);
    const lastId = Number(kept[2]?.id);

    // Written while no one listens.
    for (let i = 0; i < 6; i += 1) await send(i % 2 === 0 ? 'mcp' : 'rest', `while-away-${i}`);
    await agent.ok('mux_task_post', { description: 'while away', posted_by: 'sse-a' });
    await rest(gw, 'POST', '/state/set', { key: 'sse-end', value: true });

    const resumed = await fetch(`${gw.url}/coord/events`, { headers: { accept: 'text/event-stream', 'last-event-id': String(lastId) } });
    const isEnd = (f: SseFrame[]): boolean =>
      eventsOf(f).some((e) => e.event === 'state_changed' && (JSON.parse(e.data) as { key?: string }).key === 'sse-end');
    const seenAfter = eventsOf(await readSse(resumed.body!, isEnd));
    expect(isEnd(seenAfter)).toBe(true);

    // Contiguous ids from lastId + 1: nothing skipped, nothing repeated.
    const ids = seenAfter.map((e) => Number(e.id));
    expect(ids[0]).toBe(lastId + 1);
    for (const [i, id] of ids.entries()) expect(id).toBe(lastId + 1 + i);
    const contents = [...kept, ...seenAfter].filter((e) => e.event === 'message').map((e) => (JSON.parse(e.data) as { content: string }).content);
    expect(contents).toEqual(expected);
    expect(seenAfter.map((e) => e.event)).toContain('task_posted');
  });
});

describe('long-poll wake-up through the gateway', () => {
  const ROUNDS = 20;

  /**
   * A long poll nobody sends to, started before the rounds with a shorter
   * timeout (10 s) than theirs (20 s). Every round must answer while it still
   * waits: a round poll that ran out its own timeout, instead of being woken
   * by its send, would answer after it.
   */
  function idlePoll(poll: () => Promise<unknown>): { ranOut: () => boolean; done: Promise<unknown> } {
    let ranOut = false;
    const done = poll().finally(() => (ranOut = true));
    return { ranOut: () => ranOut, done };
  }

  /** One round: start a long poll, let it wait, send; returns ms from the send's answer to the poll's answer (reported, not asserted). */
  async function round(
    poll: () => Promise<Msg[]>,
    send: (content: string) => Promise<void>,
    content: string,
    idle: { ranOut: () => boolean },
  ): Promise<number> {
    let polledAt = 0;
    const polled = poll().then((messages) => {
      polledAt = performance.now();
      return messages;
    });
    // The poll must be parked in the store before the send; nothing
    // observable says when it is, so give it a moment.
    await new Promise((r) => setTimeout(r, 30));
    await send(content);
    const sentAt = performance.now();
    const messages = await polled;
    expect(messages.map((m) => m.content)).toEqual([content]);
    expect(idle.ranOut(), `${content}: the poll answered after an idle poll with a shorter timeout ran out, so no send woke it`).toBe(false);
    return polledAt - sentAt;
  }

  function summarize(label: string, wakes: number[]): void {
    report(
      `coord wake latency through the gateway, ${label} (send answered → poll answered, ${wakes.length} rounds): ` +
        `p50 ${quantile(wakes, 0.5).toFixed(2)} ms, max ${Math.max(...wakes).toFixed(2)} ms ` +
        '(negative: the poll answered before the send did)',
    );
  }

  it('over REST /coord, a waiting poll answers right after the send', async () => {
    await rest(gw, 'POST', '/agent/register', { agent_id: 'wake-tx', role: 'r' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'wake-rx', role: 'r' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'wake-idle', role: 'r' });
    const idle = idlePoll(() => rest(gw, 'GET', '/msg/poll?agent_id=wake-idle&timeout=10'));
    const wakes: number[] = [];
    for (let i = 0; i < ROUNDS; i += 1) {
      wakes.push(
        await round(
          async () => messagesOf(await rest(gw, 'GET', '/msg/poll?agent_id=wake-rx&timeout=20')),
          async (content) => void (await rest(gw, 'POST', '/msg/send', { from: 'wake-tx', to: 'wake-rx', content })),
          `rest-${i}`,
          idle,
        ),
      );
    }
    summarize('REST', wakes);
    await rest(gw, 'POST', '/msg/send', { from: 'wake-tx', to: 'wake-idle', content: 'done' });
    await idle.done;
  });

  it('over MCP /mcp, a waiting coord__mux_poll answers right after coord__mux_send', async () => {
    const poller: CoordSession = await sessions.open(gw.url, 'poller');
    const sender: CoordSession = await sessions.open(gw.url, 'sender');
    await sender.ok('mux_register', { agent_id: 'mwake-tx', role: 'r' });
    await poller.ok('mux_register', { agent_id: 'mwake-rx', role: 'r' });
    await sender.ok('mux_register', { agent_id: 'mwake-idle', role: 'r' });
    const idle = idlePoll(() => sender.ok('mux_poll', { agent_id: 'mwake-idle', timeout: 10 }));
    const wakes: number[] = [];
    for (let i = 0; i < ROUNDS; i += 1) {
      wakes.push(
        await round(
          async () => messagesOf(await poller.ok('mux_poll', { agent_id: 'mwake-rx', timeout: 20 })),
          async (content) => void (await sender.ok('mux_send', { from: 'mwake-tx', to: 'mwake-rx', content })),
          `mcp-${i}`,
          idle,
        ),
      );
    }
    summarize('MCP', wakes);
    await sender.ok('mux_send', { from: 'mwake-tx', to: 'mwake-idle', content: 'done' });
    await idle.done;
  });
});
