import { afterAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { type LogLine, startGateway, stopAll } from '../helpers/harness.js';

// #21 item 11: nothing but events and agents was ever pruned. On a real
// gateway with short retention, the background sweep deletes messages (read
// or not, sent over REST and over MCP) and finished tasks; REST and MCP then
// both see them gone, while a pending task stays. Ended work claims and
// ended threads (with their messages) were still never pruned:
// claim_retention and thread_retention now prune them, while a live claim
// and an open thread stay.

const sessions = new SessionSet();
/** What a retention pass that deleted anything logs, with the counts. */
const RETENTION_LOG = 'retention pruned old messages, tasks, claims or threads';
afterAll(async () => {
  await sessions.closeAll();
  await stopAll();
});

describe('#21.11 retention on a real gateway', () => {
  it('prunes old messages and finished tasks in the background; pending tasks stay', async () => {
    const gw = await startGateway(coordToml({ message_retention: 0.5, message_retention_count: 0, task_retention: 0.5, task_retention_count: 0 }));
    await coordReady(gw);
    const mcp = await sessions.open(gw.url, 'retention');
    for (const agent of ['a', 'b']) await rest(gw, 'POST', '/agent/register', { agent_id: agent, role: 'worker' });
    await rest(gw, 'POST', '/msg/send', { from: 'a', to: 'b', content: 'over REST, never read' });
    await mcp.ok('mux_send', { from: 'a', to: 'b', content: 'over MCP, never read' });
    await rest(gw, 'POST', '/task/post', { description: 'finished', posted_by: 'a' });
    const claimed = (await rest(gw, 'POST', '/task/claim', { agent_id: 'a' })) as { lease: { task_id: string; epoch: number } };
    await rest(gw, 'POST', '/task/complete', { task_id: claimed.lease.task_id, agent_id: 'a', epoch: claimed.lease.epoch, result: 'done' });
    await rest(gw, 'POST', '/task/post', { description: 'still pending', posted_by: 'a' });

    // The sweep reports what each pass deleted; wait until the passes add up to everything that was due.
    const pruned = { messages: 0, tasks: 0 };
    await gw.waitForLog((line: LogLine) => {
      if (line.msg !== RETENTION_LOG) return false;
      pruned.messages += Number(line.messages);
      pruned.tasks += Number(line.tasks);
      return pruned.messages >= 2 && pruned.tasks >= 1;
    });
    expect(pruned).toEqual({ messages: 2, tasks: 1 });

    expect(((await rest(gw, 'GET', '/msg/history?agent_id=b')) as { messages: unknown[] }).messages).toEqual([]);
    const polled = await mcp.ok('mux_poll', { agent_id: 'b', timeout: 0 });
    expect(polled.messages).toEqual([]);
    const tasks = (await rest(gw, 'GET', '/task/list')) as { tasks: { description: string; status: string }[] };
    expect(tasks.tasks.map((t) => [t.description, t.status])).toEqual([['still pending', 'pending']]);
    const stats = await mcp.ok('mux_stats', {});
    expect((stats.messages as { total: number }).total).toBe(0);
  });

  it('prunes ended work claims and ended threads in the background; a live claim and an open thread stay', async () => {
    const off = { message_retention: 0, message_retention_count: 0, task_retention: 0, task_retention_count: 0 };
    const gw = await startGateway(coordToml({ ...off, claim_retention: 0.5, thread_retention: 0.5 }));
    await coordReady(gw);
    const mcp = await sessions.open(gw.url, 'retention-ended');
    for (const agent of ['a', 'b']) await rest(gw, 'POST', '/agent/register', { agent_id: agent, role: 'worker' });
    const ended = ((await rest(gw, 'POST', '/claim/announce', { agent_id: 'a', paths: ['src/ended.ts'], intent: 'Done soon' })) as { claim: { id: string } })
      .claim;
    await rest(gw, 'POST', '/claim/release', { claim_id: ended.id, agent_id: 'a' });
    const live = ((await mcp.ok('mux_claim_announce', { agent_id: 'a', paths: ['src/live.ts'], intent: 'Still at it' })) as { claim: { id: string } }).claim;
    const cancelled = (await mcp.ok('mux_thread_open', { agent_id: 'a', participants: ['b'], subject: 'Never mind' })) as { id: string };
    await mcp.ok('mux_thread_close', { thread_id: cancelled.id, agent_id: 'a', cancel: true });
    const open = (await rest(gw, 'POST', '/thread/open', { agent_id: 'a', participants: ['b'], subject: 'Still open' })) as { id: string };

    const pruned = { claims: 0, threads: 0 };
    await gw.waitForLog((line: LogLine) => {
      if (line.msg !== RETENTION_LOG) return false;
      pruned.claims += Number(line.claims);
      pruned.threads += Number(line.threads);
      return pruned.claims >= 1 && pruned.threads >= 1;
    });
    expect(pruned).toEqual({ claims: 1, threads: 1 });

    const again = await gw.request('POST', '/coord/claim/release', { claim_id: ended.id, agent_id: 'a' });
    expect(again).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CLAIM' } });
    const claims = (await mcp.ok('mux_claim_list', {})) as { claims: Array<{ id: string }> };
    expect(claims.claims.map((c) => c.id)).toEqual([live.id]);
    const gone = await mcp.call('mux_thread_get', { thread_id: cancelled.id, agent_id: 'a' });
    expect(gone.isError).toBe(true);
    expect(gone.text).toContain('UNKNOWN_THREAD');
    const kept = (await rest(gw, 'GET', `/thread/get?thread_id=${open.id}&agent_id=b`)) as { thread: { status: string } };
    expect(kept.thread.status).toBe('open');
  });
});
