import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordResult, coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #29 item 2: nothing said whether a peer was working or waiting.
 * Agents now set a state (working / idle / waiting for something /
 * blocked) with their current file and thread; mux_wait_for_peers returns
 * when named peers or a group reach a state, woken by the change;
 * register answers with the peers already there; mux_groups counts the
 * groups. A 2025-era MCP client and REST on one gateway with tokens (ann
 * and bob agents, ops admin): an agent token sets only its own state.
 */

const SECRETS = { ann: 'states-ann-secret-00001', bob: 'states-bob-secret-00002', ops: 'states-ops-secret-00003' };
const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  const tokens = Object.keys(SECRETS)
    .map((name) => `[[auth.tokens]]\nname = "${name}"\ntoken = "\${STATES_${name.toUpperCase()}}"\n${name === 'ops' ? 'role = "admin"\n' : ''}`)
    .join('\n');
  gw = await startGateway(coordToml({}, `[auth]\n${tokens}`), {
    env: Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`STATES_${name.toUpperCase()}`, secret])),
  });
  await coordReady(gw);
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

type Who = keyof typeof SECRETS;

async function rest(who: Who | null, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}/coord${path}`, {
    method,
    headers: { ...(who === null ? {} : { authorization: `Bearer ${SECRETS[who]}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function agent(who: Who): Promise<Client> {
  // No versionNegotiation: the SDK client speaks 2025 (initialize, a session).
  const client = new Client({ name: `issue-29-${who}`, version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${SECRETS[who]}` } } }));
  expect(client.getProtocolEra()).toBe('legacy');
  clients.push(client);
  return client;
}

async function tool(client: Client, name: string, args: Record<string, unknown>): Promise<CoordResult> {
  return coordResult(await client.callTool({ name: `coord__${name}`, arguments: args }));
}

describe('issue 29.2: agent states and waiting', () => {
  it('lists the new tools; register answers with the peers already there and their states', async () => {
    const ann = await agent('ann');
    const names = (await ann.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['coord__mux_agent_state', 'coord__mux_wait_for_peers', 'coord__mux_groups']));
    expect((await rest('bob', 'POST', '/agent/register', { agent_id: 'bob', role: 'backend', group: 'team', channel: 'reg' })).status).toBe(200);
    const state = await rest('bob', 'POST', '/agent/state', { agent_id: 'bob', state: 'working', current_file: 'src/db.ts' });
    expect(state.status, JSON.stringify(state.body)).toBe(200);
    const registered = await tool(ann, 'mux_register', { agent_id: 'ann', role: 'frontend', group: 'team', channel: 'reg' });
    expect(registered.isError, registered.text).toBe(false);
    expect(registered.body.peers).toEqual([expect.objectContaining({ id: 'bob', state: 'working', current_file: 'src/db.ts', waiting_for: null })]);
  });

  it('mux_wait_for_peers returns when the peer reaches the state, woken by its REST call; POST /agent/wait the same', async () => {
    const ann = await agent('ann');
    await rest('ann', 'POST', '/agent/register', { agent_id: 'ann', role: 'frontend', channel: 'wait' });
    await rest('bob', 'POST', '/agent/register', { agent_id: 'bob', role: 'backend', channel: 'wait' });
    await rest('bob', 'POST', '/agent/state', { agent_id: 'bob', state: 'working' });
    const waiting = tool(ann, 'mux_wait_for_peers', { agent_id: 'ann', agents: ['bob'], state: 'idle', channel: 'wait', timeout: 50 });
    // ann is now waiting: she says so, which also shows the wait has begun before bob changes.
    await rest('ann', 'POST', '/agent/state', { agent_id: 'ann', state: 'waiting', waiting_for: 'bob to go idle' });
    await rest('bob', 'POST', '/agent/state', { agent_id: 'bob', state: 'idle' });
    const woke = await waiting;
    expect(woke.isError, woke.text).toBe(false);
    expect(woke.body).toMatchObject({ reached: true, state: 'idle', pending: [], peers: [expect.objectContaining({ id: 'bob', state: 'idle' })] });

    const overRest = await rest('ann', 'POST', '/agent/wait', { agent_id: 'ann', agents: ['bob'], state: 'working', channel: 'wait', timeout: 0 });
    expect(overRest).toMatchObject({ status: 200, body: { reached: false, state: 'working', pending: ['bob'] } });
    const discovered = await rest('ops', 'GET', '/agent/discover?channel=wait');
    expect((discovered.body.agents as Array<Record<string, unknown>>).find((a) => a.id === 'ann')).toMatchObject({
      state: 'waiting',
      waiting_for: 'bob to go idle',
    });
  });

  it('the same mistake is answered the same way over REST and MCP', async () => {
    const ann = await agent('ann');
    const overRest = await rest('ann', 'POST', '/agent/state', { agent_id: 'ann', state: 'waiting' });
    expect(overRest.status).toBe(400);
    expect(overRest.body).toMatchObject({ code: 'BAD_REQUEST', field: 'waiting_for' });
    const overMcp = await tool(ann, 'mux_agent_state', { agent_id: 'ann', state: 'waiting' });
    expect(overMcp.isError).toBe(true);
    expect(overMcp.body).toEqual(overRest.body);
    const both = await rest('ann', 'POST', '/agent/wait', { agents: ['bob'], group: 'team', state: 'idle' });
    expect(both).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST', field: 'agents' } });
    expect((await tool(ann, 'mux_wait_for_peers', { agents: ['bob'], group: 'team', state: 'idle' })).body).toEqual(both.body);
  });

  it('mux_groups and GET /agent/groups count the groups by state', async () => {
    const bob = await agent('bob');
    await rest('ann', 'POST', '/agent/register', { agent_id: 'ann', role: 'frontend', group: 'web', channel: 'groups' });
    await rest('bob', 'POST', '/agent/register', { agent_id: 'bob', role: 'backend', group: 'web', channel: 'groups' });
    await rest('bob', 'POST', '/agent/state', { agent_id: 'bob', state: 'blocked', waiting_for: 'CI' });
    await rest('ann', 'POST', '/agent/state', { agent_id: 'ann', state: 'idle' }); // a state outlives re-registering
    const overMcp = await tool(bob, 'mux_groups', { channel: 'groups' });
    expect(overMcp.body).toEqual({
      channel: 'groups',
      groups: [{ group: 'web', agents: 2, states: { working: 0, idle: 1, waiting: 0, blocked: 1 }, members: ['ann', 'bob'] }],
    });
    expect((await rest('ann', 'GET', '/agent/groups?channel=groups')).body).toEqual(overMcp.body);
  });

  it('a broadcast carries a priority to its recipients; status shows each agent with its state, file and thread', async () => {
    const bob = await agent('bob');
    await rest('ann', 'POST', '/agent/register', { agent_id: 'ann', role: 'frontend', channel: 'prio' });
    await rest('bob', 'POST', '/agent/register', { agent_id: 'bob', role: 'backend', channel: 'prio' });
    const sent = await tool(bob, 'mux_broadcast', { from: 'bob', content: 'freeze main', priority: 'urgent', channel: 'prio' });
    expect(sent.body).toMatchObject({ priority: 'urgent', recipients: ['ann'] });
    const polled = await rest('ann', 'GET', '/msg/poll?agent_id=ann&channel=prio&timeout=0');
    expect(polled.body.messages).toEqual([expect.objectContaining({ content: 'freeze main', kind: 'broadcast', priority: 'urgent' })]);
    const wrong = await rest('bob', 'POST', '/msg/broadcast', { from: 'bob', content: 'x', priority: 'asap', channel: 'prio' });
    expect(wrong).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST', field: 'priority' } });
    expect((await tool(bob, 'mux_broadcast', { from: 'bob', content: 'x', priority: 'asap', channel: 'prio' })).body).toEqual(wrong.body);

    await rest('bob', 'POST', '/agent/state', { agent_id: 'bob', state: 'working', current_file: 'api/users.ts', current_thread: 'th-9' });
    const status = await tool(bob, 'mux_status', { agent_id: 'bob', channel: 'prio' });
    expect(status.body.agents).toEqual(
      expect.arrayContaining([{ id: 'bob', state: 'working', waiting_for: null, current_file: 'api/users.ts', current_thread: 'th-9' }]),
    );
    expect((await rest('bob', 'GET', '/status?agent_id=bob&channel=prio')).body.agents).toEqual(status.body.agents);
  });

  it("an agent token sets only its own state; no token is refused; an admin sets anyone's", async () => {
    await rest('bob', 'POST', '/agent/register', { agent_id: 'bob', role: 'backend', channel: 'auth' });
    expect((await rest('ann', 'POST', '/agent/state', { agent_id: 'bob', state: 'idle' })).status).toBe(403);
    const ann = await agent('ann');
    const asBob = await tool(ann, 'mux_agent_state', { agent_id: 'bob', state: 'idle' });
    expect(asBob.isError).toBe(true);
    expect((await rest(null, 'POST', '/agent/state', { agent_id: 'bob', state: 'idle' })).status).toBe(401);
    expect((await rest(null, 'POST', '/agent/wait', { agents: ['bob'], state: 'idle', timeout: 0 })).status).toBe(401);
    expect((await rest(null, 'GET', '/agent/groups')).status).toBe(401);
    expect((await rest('ops', 'POST', '/agent/state', { agent_id: 'bob', state: 'working' })).body).toMatchObject({ agent: { id: 'bob', state: 'working' } });
  });
});
