import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #21 item 7: claim and thread operations did not count as activity,
 * so an agent busy checking, renewing and reading its threads showed as
 * stale (and, with item 4, its claims would stop counting). Every call that
 * names its acting agent now refreshes its last-seen time. Each test keeps
 * one agent busy with claim and thread calls only (none that sent a message,
 * which counted before) until a reference agent registered after its last
 * other call has gone stale: the busy agent must still be active.
 */

const sessions = new SessionSet();
let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(coordToml({ stale_threshold: 1, claim_ttl_default: 3600 }));
  await coordReady(gw);
});
afterEach(() => sessions.closeAll());
afterAll(() => stopAll());

/** Status of each agent of the channel, stale ones included. */
async function statuses(channel: string): Promise<Record<string, string>> {
  const { agents } = (await rest(gw, 'GET', `/agent/discover?channel=${channel}&include_stale=true`)) as { agents: Array<{ id: string; status: string }> };
  return Object.fromEntries(agents.map((a) => [a.id, a.status]));
}

/** Sets up `busy` with a claim and a thread, then registers `reference`; returns the ids. */
async function setUp(channel: string, busy: string): Promise<{ claimId: string; threadId: string }> {
  await rest(gw, 'POST', '/agent/register', { agent_id: `${busy}-peer`, role: 'dev', channel });
  await rest(gw, 'POST', '/agent/register', { agent_id: busy, role: 'dev', channel });
  const claim = (await rest(gw, 'POST', '/claim/announce', { agent_id: busy, paths: ['src/busy.ts'], intent: 'Busy work', channel })).claim as { id: string };
  const thread = await rest(gw, 'POST', '/thread/open', { agent_id: busy, participants: [`${busy}-peer`], subject: 'Who owns busy.ts', channel });
  // Registered after every call of `busy` that counted before the fix.
  await rest(gw, 'POST', '/agent/register', { agent_id: `${busy}-reference`, role: 'dev', channel });
  return { claimId: claim.id, threadId: thread.id as string };
}

/** Runs `round` until the reference agent is stale; then returns every agent's status. */
async function busyUntilReferenceStale(channel: string, busy: string, round: () => Promise<void>): Promise<Record<string, string>> {
  for (let rounds = 0; rounds < 10_000; rounds++) {
    await round();
    const now = await statuses(channel);
    if (now[`${busy}-reference`] === 'stale') return now;
  }
  throw new Error('the reference agent never went stale');
}

describe('issue 21: claim and thread calls count as activity', () => {
  it('MCP: an agent busy with claim and thread tools stays active', async () => {
    const channel = 'busy-mcp';
    const agent = await sessions.open(gw.url, 'busy-mcp');
    const { claimId, threadId } = await setUp(channel, 'busy-m');
    const seen = await busyUntilReferenceStale(channel, 'busy-m', async () => {
      await agent.ok('mux_claim_check', { agent_id: 'busy-m', paths: ['docs/other.md'], channel });
      await agent.ok('mux_claim_renew', { claim_id: claimId, agent_id: 'busy-m' });
      await agent.ok('mux_status', { agent_id: 'busy-m', channel });
      await agent.ok('mux_thread_get', { thread_id: threadId, agent_id: 'busy-m' });
      await agent.ok('mux_thread_list', { agent_id: 'busy-m', channel });
      await agent.ok('mux_thread_updates', { agent_id: 'busy-m' });
    });
    expect(seen['busy-m']).toBe('active');
    const claims = (await rest(gw, 'GET', `/claim/list?channel=${channel}`)).claims as Array<{ id: string; stale: boolean }>;
    expect(claims.find((c) => c.id === claimId)?.stale).toBe(false);
  });

  it('REST: an agent busy with claim and thread routes stays active', async () => {
    const channel = 'busy-rest';
    const { claimId, threadId } = await setUp(channel, 'busy-r');
    const seen = await busyUntilReferenceStale(channel, 'busy-r', async () => {
      await rest(gw, 'POST', '/claim/check', { agent_id: 'busy-r', paths: ['docs/other.md'], channel });
      await rest(gw, 'POST', '/claim/renew', { claim_id: claimId, agent_id: 'busy-r' });
      await rest(gw, 'GET', `/status?agent_id=busy-r&channel=${channel}`);
      await rest(gw, 'GET', `/thread/get?thread_id=${threadId}&agent_id=busy-r`);
      await rest(gw, 'GET', `/thread/list?agent_id=busy-r&channel=${channel}`);
      await rest(gw, 'GET', '/thread/updates?agent_id=busy-r');
    });
    expect(seen['busy-r']).toBe('active');
  });
});
