import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { eventually, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #21 item 4: claims and tasks outlived their agent. Deregistering
 * left its work claims blocking until their TTL (15 minutes by default) and
 * its claimed task locked until the lease lapsed; an agent that went silent
 * kept blocking with its claims as long as they lived. Now deregistering
 * releases the claims and returns the tasks in the same transaction, and a
 * claim whose holder is stale neither blocks nor scores and shows as stale.
 * Claims and leases here last an hour: only the fix lets the second agent
 * in before the test times out.
 */

const sessions = new SessionSet();
let gw: RunningGateway;

afterEach(() => sessions.closeAll());
afterAll(() => stopAll());

describe('issue 21: deregistering ends the agent’s claims and tasks at once', () => {
  beforeAll(async () => {
    gw = await startGateway(coordToml({ claim_ttl_default: 3600, task_claim_timeout: 3600 }));
    await coordReady(gw);
  });

  it('MCP deregister: the exclusive claim is released and the task goes back to pending, so another agent gets both', async () => {
    const leaver = await sessions.open(gw.url, 'leaver');
    const next = await sessions.open(gw.url, 'next');
    const channel = 'dereg-mcp';
    await leaver.ok('mux_register', { agent_id: 'leaver-mcp', role: 'dev', channel });
    await next.ok('mux_register', { agent_id: 'next-mcp', role: 'dev', channel });
    const claim = (await leaver.ok('mux_claim_announce', { agent_id: 'leaver-mcp', paths: ['src/a.ts'], intent: 'Rewrite a', exclusive: true, channel }))
      .claim as { id: string };
    const task = await rest(gw, 'POST', '/task/post', { description: 'ship it', posted_by: 'next-mcp', channel });
    const claimed = await leaver.ok('mux_task_claim', { agent_id: 'leaver-mcp', channel });
    expect((claimed.task as { id: string }).id).toBe(task.id);
    const blocked = await next.call('mux_claim_announce', { agent_id: 'next-mcp', paths: ['src/a.ts'], intent: 'Fix a', exclusive: true, channel });
    expect(blocked.isError).toBe(true);
    expect(blocked.text).toMatch(/^CONFLICT/);

    const left = await leaver.ok('mux_deregister', { agent_id: 'leaver-mcp' });
    expect(left).toMatchObject({ deregistered: true, released_claims: [claim.id], returned_tasks: [task.id] });

    const mine = await next.ok('mux_claim_announce', { agent_id: 'next-mcp', paths: ['src/a.ts'], intent: 'Fix a', exclusive: true, channel });
    expect(mine).toMatchObject({ verdict: 'clear', conflicts: [] });
    const again = await next.ok('mux_task_claim', { agent_id: 'next-mcp', channel });
    expect(again.task).toMatchObject({ id: task.id, claimed_by: 'next-mcp', attempts: 1 });
  });

  it('REST deregister answers what it released, with claim_released and task_requeued events', async () => {
    const channel = 'dereg-rest';
    await rest(gw, 'POST', '/agent/register', { agent_id: 'leaver-rest', role: 'dev', channel });
    const claim = (await rest(gw, 'POST', '/claim/announce', { agent_id: 'leaver-rest', paths: ['lib/'], intent: 'Move lib', channel })).claim as {
      id: string;
    };
    const task = await rest(gw, 'POST', '/task/post', { description: 'review', posted_by: 'leaver-rest', channel });
    await rest(gw, 'POST', '/task/claim', { agent_id: 'leaver-rest', channel });

    const left = await rest(gw, 'POST', '/agent/deregister', { agent_id: 'leaver-rest' });
    expect(left).toMatchObject({ deregistered: true, released_claims: [claim.id], returned_tasks: [task.id] });
    expect(await rest(gw, 'GET', `/claim/list?channel=${channel}`)).toEqual({ claims: [] });
    expect(((await rest(gw, 'GET', `/task/list?channel=${channel}&status=pending`)).tasks as unknown[]).length).toBe(1);
    const events = await fetch(`${gw.url}/coord/events?channel=${channel}&after=0`, { headers: { accept: 'text/event-stream' } });
    const reader = events.body?.getReader();
    let text = '';
    const decoder = new TextDecoder();
    while (reader !== undefined && !text.includes('agent_deregistered')) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value);
    }
    await reader?.cancel();
    expect(text).toMatch(/event: claim_released\ndata: [^\n]*"reason":"deregistered"/);
    expect(text).toMatch(/event: task_requeued\ndata: [^\n]*"reason":"deregistered"/);
  });
});

describe('issue 21: a stale agent’s claims stop blocking and show as stale', () => {
  beforeAll(async () => {
    await stopAll();
    gw = await startGateway(coordToml({ claim_ttl_default: 3600, stale_threshold: 1 }));
    await coordReady(gw);
  });

  it('an exclusive claim of an agent silent for stale_threshold lets others in (MCP and REST), listed as stale', async () => {
    const channel = 'stale-holder';
    const fresh = await sessions.open(gw.url, 'fresh');
    await rest(gw, 'POST', '/agent/register', { agent_id: 'silent', role: 'dev', channel });
    const held = (await rest(gw, 'POST', '/claim/announce', { agent_id: 'silent', paths: ['src/x.ts'], intent: 'Rewrite x', exclusive: true, channel }))
      .claim as { id: string };
    // Discovery names nobody as the caller, so watching does not keep 'silent' alive.
    await eventually(async () => {
      const agents = (await rest(gw, 'GET', `/agent/discover?channel=${channel}&status=stale`)).agents as Array<{ id: string }>;
      return agents.some((a) => a.id === 'silent');
    });

    await fresh.ok('mux_register', { agent_id: 'fresh-mcp', role: 'dev', channel });
    const viaMcp = await fresh.ok('mux_claim_announce', { agent_id: 'fresh-mcp', paths: ['src/x.ts'], intent: 'Fix x', exclusive: true, channel });
    expect(viaMcp).toMatchObject({ verdict: 'clear', score: 0, conflicts: [], thread: null });
    expect(viaMcp.stale_conflicts).toEqual([expect.objectContaining({ claim_id: held.id, agent_id: 'silent', score: 100 })]);

    const check = await rest(gw, 'POST', '/claim/check', { paths: ['src/x.ts'], channel });
    expect((check.stale_conflicts as Array<{ claim_id: string }>).map((c) => c.claim_id)).toEqual([held.id]);
    const listed = (await rest(gw, 'GET', `/claim/list?channel=${channel}`)).claims as Array<{ id: string; stale: boolean }>;
    expect(listed.find((c) => c.id === held.id)?.stale).toBe(true);
    const status = await fresh.ok('mux_status', { channel, agent_id: 'fresh-mcp' });
    expect((status.claims as Array<{ id: string; stale: boolean }>).find((c) => c.id === held.id)?.stale).toBe(true);
    expect(status.hot_paths).toEqual([]);
  });
});
