import { afterAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { type LogLine, startGateway, stopAll } from '../helpers/harness.js';

// #21 item 11: nothing but events and agents was ever pruned. On a real
// gateway with short retention, the background sweep deletes messages (read
// or not, sent over REST and over MCP) and finished tasks; REST and MCP then
// both see them gone, while a pending task stays.

const sessions = new SessionSet();
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
      if (line.msg !== 'retention pruned messages and finished tasks') return false;
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
});
