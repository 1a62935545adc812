import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CoordSession, coordReady, coordResult, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { eventually, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { eventsOf, readSse } from '../helpers/sse.js';

/*
 * Task claims through the gateway's router, pool and breaker: many agents
 * racing for few tasks get each task once, and a lease that lapses hands the
 * task to someone else while the old holder's epoch is refused.
 */

const sessions = new SessionSet();
afterEach(() => sessions.closeAll());
afterAll(stopAll);

interface Claim {
  task: { id: string; claimed_by: string; epoch: number; attempts: number } | null;
  lease: { task_id: string; epoch: number; expires_at: string } | null;
  reason?: string;
}

const CLAIMERS = 50;
const TASKS = 20;

/** Registers `n` agents able to `build` in `channel` and posts `TASKS` tasks there; returns agent ids and task ids. */
async function setUp(gw: RunningGateway, channel: string): Promise<{ agents: string[]; tasks: string[] }> {
  const agents = Array.from({ length: CLAIMERS }, (_, i) => `${channel}-w${String(i).padStart(2, '0')}`);
  await Promise.all(agents.map((agent_id) => rest(gw, 'POST', '/agent/register', { agent_id, role: 'builder', capabilities: ['build'], channel })));
  const tasks: string[] = [];
  for (let i = 0; i < TASKS; i += 1) {
    const task = await rest(gw, 'POST', '/task/post', {
      description: `job ${i}`,
      posted_by: agents[0],
      required_capability: 'build',
      priority: i % 3,
      channel,
    });
    tasks.push(task.id as string);
  }
  return { agents, tasks };
}

function checkClaims(claims: Claim[], agents: string[], tasks: string[]): void {
  const won = claims.filter((c) => c.task !== null);
  expect(won.length).toBe(TASKS);
  const ids = won.map((c) => c.task!.id);
  expect(new Set(ids).size, 'a task was claimed twice').toBe(TASKS);
  expect([...ids].sort()).toEqual([...tasks].sort());
  for (const c of won) expect(c.lease).toMatchObject({ task_id: c.task!.id, epoch: 1 });
  expect(new Set(won.map((c) => c.task!.claimed_by)).size, 'an agent got two tasks').toBe(TASKS);
  for (const c of won) expect(agents).toContain(c.task!.claimed_by);
  for (const c of claims.filter((x) => x.task === null)) expect(c.lease).toBeNull();
}

describe('50 concurrent claimers on 20 tasks', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    // 50 agents on loopback without tokens are one client address: lift its session cap.
    gw = await startGateway(coordToml({}, '[gateway]\nmax_sessions_per_client = 64\n'));
    await coordReady(gw);
  });

  it('over 50 MCP sessions: 20 distinct claims, no task twice', async () => {
    const { agents, tasks } = await setUp(gw, 'race-mcp');
    const opened: CoordSession[] = [];
    for (let i = 0; i < CLAIMERS; i += 10) opened.push(...(await Promise.all(agents.slice(i, i + 10).map((a) => sessions.open(gw.url, a)))));
    const claims = await Promise.all(
      opened.map(async (s, i) => (await s.ok('mux_task_claim', { agent_id: agents[i], channel: 'race-mcp' })) as unknown as Claim),
    );
    checkClaims(claims, agents, tasks);
    const listed = (await rest(gw, 'GET', '/task/list?status=claimed&channel=race-mcp')).tasks as { id: string }[];
    expect(listed.length).toBe(TASKS);
  }, 60_000);

  it('over POST /call: 20 distinct claims, no task twice, every call counted by the router', async () => {
    const { agents, tasks } = await setUp(gw, 'race-rest');
    const before = (await gw.request('GET', '/server/list')).body.servers as { name: string; total_calls: number; circuit: string }[];
    const callsBefore = before.find((s) => s.name === 'coord')?.total_calls ?? 0;
    const answers = await Promise.all(
      agents.map((agent_id) => gw.request('POST', '/call', { server: 'coord', tool: 'mux_task_claim', arguments: { agent_id, channel: 'race-rest' } })),
    );
    for (const a of answers) expect(a.status).toBe(200);
    const claims = answers.map((a) => {
      const result = coordResult(a.body.result);
      expect(result.isError, result.text).toBe(false);
      return result.body as unknown as Claim;
    });
    checkClaims(claims, agents, tasks);
    const after = ((await gw.request('GET', '/server/list')).body.servers as { name: string; total_calls: number; circuit: string }[]).find(
      (s) => s.name === 'coord',
    );
    expect(after?.total_calls).toBe(callsBefore + CLAIMERS);
    expect(after?.circuit).toBe('closed');
  }, 60_000);
});

describe('leases', () => {
  it('a lapsed claim is re-queued, claimed again with a new epoch, and the old epoch cannot complete it', async () => {
    const gw = await startGateway(coordToml({ task_claim_timeout: 1.5 }));
    await coordReady(gw);
    const holder = await sessions.open(gw.url, 'slow-holder');
    await holder.ok('mux_register', { agent_id: 'slow', role: 'w', capabilities: ['fix'] });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'quick', role: 'w', capabilities: ['fix'] });
    const task = await rest(gw, 'POST', '/task/post', { description: 'fix the build', posted_by: 'quick', required_capability: 'fix' });

    const first = (await holder.ok('mux_task_claim', { agent_id: 'slow' })) as unknown as Claim;
    expect(first.lease).toMatchObject({ task_id: task.id, epoch: 1 });
    // Held: nobody else gets it.
    expect(await rest(gw, 'POST', '/task/claim', { agent_id: 'quick' })).toMatchObject({ task: null });

    // The lease lapses: the task is pending again, one attempt spent.
    const pending = await eventually(
      async () => {
        const tasks = (await rest(gw, 'GET', '/task/list?status=pending')).tasks as { id: string; attempts: number; claimed_by: string | null }[];
        return tasks.find((t) => t.id === task.id);
      },
      10_000,
      100,
    );
    expect(pending).toMatchObject({ attempts: 1, claimed_by: null });

    const second = (await rest(gw, 'POST', '/task/claim', { agent_id: 'quick' })) as unknown as Claim;
    expect(second.task).toMatchObject({ id: task.id, claimed_by: 'quick', attempts: 1 });
    expect(second.lease?.epoch).toBe(2);

    // The old holder is refused, on both surfaces, with or without its epoch.
    const stale = await holder.call('mux_task_complete', { task_id: task.id, agent_id: 'slow', epoch: 1, result: 'late' });
    expect(stale.isError).toBe(true);
    expect(stale.body.code).toBe('CONFLICT');
    const staleRest = await gw.request('POST', '/coord/task/complete', { task_id: task.id, agent_id: 'slow', epoch: 1, result: 'late' });
    expect(staleRest.status).toBe(409);
    expect(staleRest.body.code).toBe('CONFLICT');
    const noEpoch = await gw.request('POST', '/coord/task/complete', { task_id: task.id, agent_id: 'slow', result: 'late' });
    expect(noEpoch.status).toBe(409);
    // The same agent with the old epoch is refused too: epochs, not names, decide.
    const wrongEpoch = await gw.request('POST', '/coord/task/complete', { task_id: task.id, agent_id: 'quick', epoch: 1 });
    expect(wrongEpoch.status).toBe(409);

    const done = await rest(gw, 'POST', '/task/complete', { task_id: task.id, agent_id: 'quick', epoch: 2, result: 'fixed' });
    expect(done).toMatchObject({ status: 'complete', result: 'fixed', claimed_by: 'quick' });

    // The event stream tells the story in order.
    const stream = await fetch(`${gw.url}/coord/events?after=0`, { headers: { accept: 'text/event-stream' } });
    const story = eventsOf(await readSse(stream.body!, (f) => eventsOf(f).some((e) => e.event === 'task_completed')))
      .filter((e) => e.event.startsWith('task_'))
      .map((e) => e.event);
    expect(story).toEqual(['task_posted', 'task_claimed', 'task_requeued', 'task_claimed', 'task_completed']);
  }, 60_000);
});
