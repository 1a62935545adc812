import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordResult, coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #21 item 7, calls that name no agent: "every authenticated
 * coordination call is activity". Only calls naming their acting agent
 * refreshed last-seen, so with tokens an agent that only discovered, read
 * state, listed tasks or channels, asked for stats or watched /coord/events
 * showed as stale. The gateway knows the agent of an agent token and now
 * counts each of its coord calls, over MCP and REST; an unregistered token
 * agent is no error; an admin token's calls count for nobody. Each test keeps
 * one agent busy with such calls until a reference agent registered after
 * its registration has gone stale: the busy agent must still be active.
 */

const SECRETS = {
  mcpBusy: 'activity-mcp-busy-secret-01',
  restBusy: 'activity-rest-busy-secret-02',
  ghost: 'activity-ghost-secret-0003',
  ops: 'activity-ops-secret-000004',
};
const NAMES: Record<keyof typeof SECRETS, string> = { mcpBusy: 'mcp-busy', restBusy: 'rest-busy', ghost: 'ghost', ops: 'ops' };
const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  const tokens = (Object.keys(SECRETS) as Array<keyof typeof SECRETS>)
    .map((key) => `[[auth.tokens]]\nname = "${NAMES[key]}"\ntoken = "\${ACTIVITY_${key.toUpperCase()}}"\n${key === 'ops' ? 'role = "admin"\n' : ''}`)
    .join('\n');
  gw = await startGateway(coordToml({ stale_threshold: 1 }, `[auth]\n${tokens}`), {
    env: Object.fromEntries(Object.entries(SECRETS).map(([key, secret]) => [`ACTIVITY_${key.toUpperCase()}`, secret])),
  });
  await coordReady(gw);
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

async function rest(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gw.url}/coord${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await res.json()) as Record<string, unknown>;
  expect(res.status, JSON.stringify(answer)).toBe(200);
  return answer;
}

async function mcpAgent(token: string): Promise<(name: string, args: Record<string, unknown>) => Promise<CoordResult>> {
  const client = new Client({ name: 'issue-21-token-activity', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return async (name, args) => {
    const result = coordResult(await client.callTool({ name: `coord__${name}`, arguments: args }));
    expect(result.isError, result.text).toBe(false);
    return result;
  };
}

/** Status of each agent of the channel, stale ones included (asked with the admin token, which counts for nobody). */
async function statuses(channel: string): Promise<Record<string, string>> {
  const { agents } = (await rest(SECRETS.ops, 'GET', `/agent/discover?channel=${channel}&include_stale=true`)) as {
    agents: Array<{ id: string; status: string }>;
  };
  return Object.fromEntries(agents.map((a) => [a.id, a.status]));
}

/** Registers `busy` (and `ops`, the admin token's name) with their tokens' rights, then a reference agent after them. */
async function setUp(channel: string, busy: keyof typeof SECRETS): Promise<void> {
  await rest(SECRETS[busy], 'POST', '/agent/register', { agent_id: NAMES[busy], role: 'dev', channel });
  await rest(SECRETS.ops, 'POST', '/agent/register', { agent_id: 'ops', role: 'dev', channel });
  await rest(SECRETS.ops, 'POST', '/agent/register', { agent_id: 'reference', role: 'dev', channel });
}

/** Runs `round` until the reference agent is stale; then returns every agent's status. */
async function busyUntilReferenceStale(channel: string, round: () => Promise<void>): Promise<Record<string, string>> {
  for (let rounds = 0; rounds < 10_000; rounds++) {
    await round();
    const now = await statuses(channel);
    if (now.reference === 'stale') return now;
  }
  throw new Error('the reference agent never went stale');
}

describe('issue 21.7: an agent token call that names no agent is activity', () => {
  it('MCP: an agent busy with coord__mux_discover, state_get, task_list, stats, channel_list stays active; admin calls count for nobody', async () => {
    const channel = 'token-mcp';
    await setUp(channel, 'mcpBusy');
    const call = await mcpAgent(SECRETS.mcpBusy);
    const admin = await mcpAgent(SECRETS.ops);
    const seen = await busyUntilReferenceStale(channel, async () => {
      await call('mux_discover', { channel });
      await call('mux_state_get', { key: 'nothing-here', channel });
      await call('mux_task_list', { channel });
      await call('mux_stats', {});
      await call('mux_channel_list', {});
      await admin('mux_stats', {});
    });
    expect(seen['mcp-busy']).toBe('active');
    expect(seen.ops).toBe('stale');
  });

  it('REST: an agent busy with /coord reads and the event stream stays active; admin requests count for nobody', async () => {
    const channel = 'token-rest';
    await setUp(channel, 'restBusy');
    const seen = await busyUntilReferenceStale(channel, async () => {
      await rest(SECRETS.restBusy, 'GET', `/agent/discover?channel=${channel}`);
      await rest(SECRETS.restBusy, 'GET', `/state/get?key=nothing-here&channel=${channel}`);
      await rest(SECRETS.restBusy, 'GET', `/task/list?channel=${channel}`);
      await rest(SECRETS.restBusy, 'GET', '/stats');
      await rest(SECRETS.restBusy, 'GET', '/channel/list');
      await rest(SECRETS.ops, 'GET', '/stats');
    });
    expect(seen['rest-busy']).toBe('active');
    expect(seen.ops).toBe('stale');
  });

  it('REST: opening /coord/events alone is activity', async () => {
    const channel = 'token-events';
    await setUp(channel, 'restBusy');
    const seen = await busyUntilReferenceStale(channel, async () => {
      const stop = new AbortController();
      const res = await fetch(`${gw.url}/coord/events`, { headers: { authorization: `Bearer ${SECRETS.restBusy}` }, signal: stop.signal });
      expect(res.status).toBe(200);
      stop.abort();
      await res.body?.cancel().catch(() => undefined);
    });
    expect(seen['rest-busy']).toBe('active');
  });

  it('an unregistered token agent calling is not an error, over MCP and REST', async () => {
    const call = await mcpAgent(SECRETS.ghost);
    expect((await call('mux_discover', {})).isError).toBe(false);
    expect(await rest(SECRETS.ghost, 'GET', '/stats')).toHaveProperty('agents');
    const ids = Object.keys(await statuses('default'));
    expect(ids).not.toContain('ghost');
  });
});
