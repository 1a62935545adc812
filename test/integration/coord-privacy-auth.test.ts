import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CoordResult, coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { eventsOf, readSse } from '../helpers/sse.js';

/*
 * Agent tokens read only their own messages: channel history needs
 * agent_id = the token's name (and then answers what it sent or received),
 * and GET /coord/events leaves out other agents' direct messages, the
 * contents of broadcasts it did not send, and the threads it is not in.
 * Admin tokens see everything. Agents ann and ben have tokens; cal is acted
 * for by the admin token ops.
 */

const SECRETS = { ann: 'privacy-ann-secret-0001', ben: 'privacy-ben-secret-0002', ops: 'privacy-ops-secret-0003' };
const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  const tokens = Object.keys(SECRETS)
    .map((name) => `[[auth.tokens]]\nname = "${name}"\ntoken = "\${PRIVACY_${name.toUpperCase()}}"\n${name === 'ops' ? 'role = "admin"\n' : ''}`)
    .join('\n');
  gw = await startGateway(coordToml({}, `[auth]\n${tokens}`), {
    env: Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`PRIVACY_${name.toUpperCase()}`, secret])),
  });
  await coordReady(gw);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

async function call(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${gw.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function ok(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const answer = await call(token, method, path, body);
  if (answer.status !== 200) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

const contents = (body: Record<string, unknown>): string[] => (body.messages as Array<{ content: string }>).map((m) => m.content);

async function mcp(
  token: string,
): Promise<{ history: (args: Record<string, unknown>) => Promise<CoordResult>; gateCall: (args: Record<string, unknown>) => Promise<CoordResult> }> {
  const client = new Client({ name: 'privacy-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return {
    history: async (args) => coordResult(await client.callTool({ name: 'coord__mux_history', arguments: args })),
    gateCall: async (args) => coordResult(await client.callTool({ name: 'gate_call', arguments: { server: 'coord', tool: 'mux_history', arguments: args } })),
  };
}

/** Every event of the stream from its start up to the state_changed of `marker`, as the token sees it. */
async function stream(token: string, marker: string): Promise<Array<{ event: string; data: Record<string, unknown> }>> {
  const res = await fetch(`${gw.url}/coord/events?after=0`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const done = (frames: Parameters<typeof eventsOf>[0]): boolean => eventsOf(frames).some((e) => e.event === 'state_changed' && e.data.includes(marker));
  const frames = await readSse(res.body as ReadableStream<Uint8Array>, done, 10_000);
  return eventsOf(frames).map((e) => ({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> }));
}

describe('agent tokens and other agents’ messages', () => {
  it('history: an agent token reads only as itself, on REST, MCP and gate_call; the admin token reads the channel', async () => {
    await ok(SECRETS.ann, 'POST', '/coord/agent/register', { agent_id: 'ann', role: 'dev', group: 'g' });
    await ok(SECRETS.ben, 'POST', '/coord/agent/register', { agent_id: 'ben', role: 'dev', group: 'h' });
    await ok(SECRETS.ops, 'POST', '/coord/agent/register', { agent_id: 'cal', role: 'dev', group: 'g' });
    await ok(SECRETS.ann, 'POST', '/coord/msg/send', { from: 'ann', to: 'cal', content: 'ann to cal, private' });
    await ok(SECRETS.ann, 'POST', '/coord/msg/send', { from: 'ann', to: 'ben', content: 'ann to ben' });
    await ok(SECRETS.ben, 'POST', '/coord/msg/send', { from: 'ben', to: 'ann', content: 'ben to ann' });
    await ok(SECRETS.ops, 'POST', '/coord/msg/broadcast', { from: 'cal', group: 'g', content: 'cal to g, private' });
    await ok(SECRETS.ann, 'POST', '/coord/msg/broadcast', { from: 'ann', content: 'ann to all' });

    const refused = await call(SECRETS.ben, 'GET', '/coord/msg/history');
    expect(refused).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    expect(String(refused.body.error)).toContain("agent_id = 'ben'");
    expect((await call(SECRETS.ben, 'GET', '/coord/msg/history?group=g')).status).toBe(403);
    expect((await call(SECRETS.ben, 'GET', '/coord/msg/history?agent_id=ann')).status).toBe(403);
    const asBen = await ok(SECRETS.ben, 'GET', '/coord/msg/history?agent_id=ben');
    expect(asBen).toMatchObject({ mode: 'channel', agent_id: 'ben' });
    expect(contents(asBen)).toEqual(['ann to all', 'ben to ann', 'ann to ben']);
    expect(contents(await ok(SECRETS.ben, 'GET', '/coord/msg/history?agent_id=ben&group=g'))).toEqual([]);
    expect(contents(await ok(SECRETS.ann, 'GET', '/coord/msg/history?agent_id=ann&group=g'))).toEqual(['cal to g, private']);
    expect(contents(await ok(SECRETS.ben, 'GET', '/coord/msg/history?agent_id=ben&with_agent=ann'))).toEqual(['ben to ann', 'ann to ben']);
    const all = await ok(SECRETS.ops, 'GET', '/coord/msg/history');
    expect(all).not.toHaveProperty('agent_id');
    expect(contents(all)).toEqual(['ann to all', 'cal to g, private', 'ben to ann', 'ann to ben', 'ann to cal, private']);

    // POST /call reaches the tool through the same call guard as MCP.
    expect((await call(SECRETS.ben, 'POST', '/call', { server: 'coord', tool: 'mux_history', arguments: {} })).body.code).toBe('FORBIDDEN');

    const ben = await mcp(SECRETS.ben);
    for (const refusedCall of [await ben.history({}), await ben.gateCall({}), await ben.history({ group: 'g' })]) {
      expect(refusedCall.isError).toBe(true);
      expect(refusedCall.text).toMatch(/^FORBIDDEN/);
      expect(refusedCall.text).toContain("agent_id = 'ben'");
    }
    const viaMcp = await ben.history({ agent_id: 'ben' });
    expect(viaMcp.isError).toBe(false);
    expect(contents(viaMcp.body)).toEqual(['ann to all', 'ben to ann', 'ann to ben']);
    expect(contents((await ben.gateCall({ agent_id: 'ben' })).body)).toEqual(['ann to all', 'ben to ann', 'ann to ben']);
    const ops = await mcp(SECRETS.ops);
    expect(contents((await ops.history({})).body)).toContain('ann to cal, private');
  });

  it('/coord/events: an agent token’s stream lacks others’ direct messages, broadcast contents it did not send and others’ threads; the admin stream has them', async () => {
    await ok(SECRETS.ben, 'POST', '/coord/msg/broadcast', { from: 'ben', content: 'ben to all' });
    const annThread = await ok(SECRETS.ann, 'POST', '/coord/thread/open', { agent_id: 'ann', participants: ['cal'], subject: 'Who owns the router?' });
    await ok(SECRETS.ann, 'POST', '/coord/thread/post', { thread_id: annThread.id, agent_id: 'ann', content: 'ann thread post, private' });
    const benThread = await ok(SECRETS.ben, 'POST', '/coord/thread/open', { agent_id: 'ben', participants: ['ann'], subject: 'The session store' });
    await ok(SECRETS.ben, 'POST', '/coord/thread/post', { thread_id: benThread.id, agent_id: 'ben', content: 'ben thread post' });
    await ok(SECRETS.ann, 'POST', '/coord/thread/post', { thread_id: benThread.id, agent_id: 'ann', content: 'ann answers ben' });
    await ok(SECRETS.ops, 'POST', '/coord/state/set', { key: 'marker', value: 'end of test' });

    const benView = await stream(SECRETS.ben, 'end of test');
    const messages = benView.filter((e) => e.event === 'message').map((e) => e.data);
    expect(messages.map((m) => m.content)).toEqual(expect.arrayContaining(['ann to ben', 'ben to ann']));
    expect(messages.every((m) => m.from === 'ben' || m.to === 'ben')).toBe(true);
    const broadcasts = benView.filter((e) => e.event === 'broadcast').map((e) => e.data);
    expect(broadcasts.map((b) => [b.from, b.content])).toEqual([
      ['cal', undefined],
      ['ann', undefined],
      ['ben', 'ben to all'],
    ]);
    // Threads: ben's own thread in full (ann's answer included), nothing at all of ann's thread with cal.
    const threadEvents = benView.filter((e) => e.event.startsWith('thread_'));
    expect(threadEvents.map((e) => e.data.thread_id).every((id) => id === benThread.id)).toBe(true);
    expect(threadEvents.map((e) => e.event)).toContain('thread_opened');
    const posts = threadEvents.filter((e) => e.event === 'thread_message').map((e) => [e.data.agent_id, e.data.content]);
    expect(posts).toEqual(
      expect.arrayContaining([
        ['ben', 'ben thread post'],
        ['ann', 'ann answers ben'],
      ]),
    );
    const benText = JSON.stringify(benView);
    for (const secret of ['ann to cal, private', 'cal to g, private', 'ann to all', 'ann thread post, private', 'Who owns the router?'])
      expect(benText).not.toContain(secret);

    const opsText = JSON.stringify(await stream(SECRETS.ops, 'end of test'));
    for (const secret of ['ann to cal, private', 'cal to g, private', 'ann to all', 'ann thread post, private', 'ann answers ben', 'ben thread post'])
      expect(opsText).toContain(secret);
  });
});
