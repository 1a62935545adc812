import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, type MakeStore, registerAll, StoreSet, TestClock } from '../helpers/coord-store.js';

/** Posting, claiming (atomic, by priority and capability), leases, completion and listing. */
export function taskContract(make: MakeStore): void {
  describe('tasks', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('posts, claims and completes a task (the stonemux quick start)', async () => {
      const store = await stores.store();
      await store.registerAgent({ agent_id: 'researcher', role: 'research', capabilities: ['web-search'] });
      await store.registerAgent({ agent_id: 'writer', role: 'writing', capabilities: ['content-creation'] });
      const task = await store.postTask({
        description: 'Draft competitive analysis report',
        posted_by: 'researcher',
        required_capability: 'content-creation',
        priority: 5,
        metadata: { format: 'markdown' },
      });
      expect(task).toMatchObject({ status: 'pending', priority: 5, channel: 'default', epoch: 0, attempts: 0, metadata: { format: 'markdown' } });
      const none = await store.claimTask({ agent_id: 'researcher' });
      expect(none.task).toBeNull();
      expect(none.reason).toMatch(/capability/);
      const { task: claimed, lease } = await store.claimTask({ agent_id: 'writer' });
      expect(claimed).toMatchObject({ id: task.id, status: 'claimed', claimed_by: 'writer', epoch: 1 });
      expect(lease).toMatchObject({ task_id: task.id, epoch: 1 });
      const done = await store.completeTask({ task_id: task.id, agent_id: 'writer', result: 'Report drafted.', epoch: lease?.epoch });
      expect(done).toMatchObject({ status: 'complete', result: 'Report drafted.', claimed_by: 'writer', lease_expires_at: null });
      expect(done.completed_at).not.toBeNull();
      expect((await store.claimTask({ agent_id: 'writer' })).reason).toMatch(/No pending tasks/);
    });

    it('claims the highest priority first, then the oldest', async () => {
      const store = await stores.store();
      await registerAll(store, ['w', 'p']);
      const post = (description: string, priority?: number): Promise<unknown> => store.postTask({ description, posted_by: 'p', priority });
      await post('low-old', 1);
      await post('default-prio');
      await post('high-old', 9);
      await post('low-new', 1);
      await post('high-new', 9);
      const order: string[] = [];
      for (;;) {
        const { task } = await store.claimTask({ agent_id: 'w' });
        if (task === null) break;
        order.push(task.description);
      }
      expect(order).toEqual(['high-old', 'high-new', 'low-old', 'low-new', 'default-prio']);
    });

    it('gives 20 tasks to 50 concurrent claimers exactly once each', async () => {
      const store = await stores.store();
      const agents = Array.from({ length: 50 }, (_, i) => `agent-${i}`);
      await registerAll(store, agents, { capabilities: ['work'] });
      await registerAll(store, ['p']);
      for (let i = 0; i < 20; i++) await store.postTask({ description: `t${i}`, posted_by: 'p', required_capability: 'work', priority: i % 3 });
      const results = await Promise.all(agents.map((agent_id) => store.claimTask({ agent_id })));
      const claimed = results.flatMap((r) => (r.task === null ? [] : [r.task.id]));
      expect(claimed).toHaveLength(20);
      expect(new Set(claimed).size).toBe(20);
      expect(results.filter((r) => r.task === null)).toHaveLength(30);
      expect((await store.listTasks({ status: 'claimed' })).length).toBe(20);
    });

    it('only the claimer with the current epoch completes; everything else is CONFLICT or UNKNOWN_TASK', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      const task = await store.postTask({ description: 'x', posted_by: 'a' });
      await expectCode(store.completeTask({ task_id: task.id, agent_id: 'a' }), 'CONFLICT'); // not claimed yet
      const { lease } = await store.claimTask({ agent_id: 'a' });
      const notYours = await expectCode(store.completeTask({ task_id: task.id, agent_id: 'b' }), 'CONFLICT');
      expect(notYours.details).toMatchObject({ claimed_by: 'a' });
      await expectCode(store.completeTask({ task_id: task.id, agent_id: 'a', epoch: (lease?.epoch ?? 0) + 1 }), 'CONFLICT');
      await store.completeTask({ task_id: task.id, agent_id: 'a', epoch: lease?.epoch });
      await expectCode(store.completeTask({ task_id: task.id, agent_id: 'a' }), 'CONFLICT'); // already complete
      await expectCode(store.completeTask({ task_id: 'no-such-task', agent_id: 'a' }), 'UNKNOWN_TASK');
      await expectCode(store.getTask('no-such-task'), 'UNKNOWN_TASK');
    });

    it('records a failure with status failed', async () => {
      const store = await stores.store();
      await registerAll(store, ['a']);
      const task = await store.postTask({ description: 'x', posted_by: 'a' });
      await store.claimTask({ agent_id: 'a' });
      const failed = await store.completeTask({ task_id: task.id, agent_id: 'a', status: 'failed', result: 'disk full' });
      expect(failed).toMatchObject({ status: 'failed', result: 'disk full' });
      expect((await store.listTasks({ status: 'failed' })).map((t) => t.id)).toEqual([task.id]);
    });

    it('re-queues a lapsed claim with attempts + 1, and the old epoch can no longer complete it', async () => {
      const clock = new TestClock();
      const store = await stores.store({ task_claim_timeout: 60 }, { now: clock.now });
      await registerAll(store, ['slow', 'fast', 'p']);
      const task = await store.postTask({ description: 'x', posted_by: 'p' });
      const first = await store.claimTask({ agent_id: 'slow' });
      expect(first.lease?.epoch).toBe(1);
      clock.advance(30);
      expect((await store.claimTask({ agent_id: 'fast' })).task).toBeNull(); // still leased
      clock.advance(31);
      const listed = await store.getTask(task.id);
      expect(listed).toMatchObject({ status: 'pending', attempts: 1, claimed_by: null });
      const second = await store.claimTask({ agent_id: 'fast' });
      expect(second.task).toMatchObject({ id: task.id, epoch: 2, attempts: 1 });
      const stale = await expectCode(store.completeTask({ task_id: task.id, agent_id: 'slow', epoch: 1 }), 'CONFLICT');
      expect(stale.message).toContain('claimed by');
      await store.completeTask({ task_id: task.id, agent_id: 'fast', epoch: second.lease?.epoch, result: 'ok' });
      expect((await store.getTask(task.id)).status).toBe('complete');
    });

    it('refuses completing a lapsed lease even by its own claimer before anyone re-claims it', async () => {
      const clock = new TestClock();
      const store = await stores.store({ task_claim_timeout: 60 }, { now: clock.now });
      await registerAll(store, ['a', 'p']);
      const task = await store.postTask({ description: 'x', posted_by: 'p' });
      const { lease } = await store.claimTask({ agent_id: 'a' });
      clock.advance(61);
      await expectCode(store.completeTask({ task_id: task.id, agent_id: 'a', epoch: lease?.epoch }), 'CONFLICT');
      const again = await store.claimTask({ agent_id: 'a' });
      expect(again.lease?.epoch).toBe(2);
      await expectCode(store.completeTask({ task_id: task.id, agent_id: 'a', epoch: 1 }), 'CONFLICT');
      await store.completeTask({ task_id: task.id, agent_id: 'a', epoch: 2 });
    });

    it('lists by status, claimer and channel; claims need membership of the channel', async () => {
      const store = await stores.store();
      await registerAll(store, ['a']);
      await registerAll(store, ['o'], { channel: 'ops' });
      const t1 = await store.postTask({ description: 'one', posted_by: 'a' });
      const t2 = await store.postTask({ description: 'two', posted_by: 'a' });
      const t3 = await store.postTask({ description: 'ops work', posted_by: 'o', channel: 'ops' });
      await store.claimTask({ agent_id: 'a' });
      expect((await store.listTasks({})).map((t) => t.id)).toEqual([t2.id, t1.id]);
      expect((await store.listTasks({ status: 'pending' })).map((t) => t.id)).toEqual([t2.id]);
      expect((await store.listTasks({ claimed_by: 'a' })).map((t) => t.id)).toEqual([t1.id]);
      expect((await store.listTasks({ channel: 'ops' })).map((t) => t.id)).toEqual([t3.id]);
      const refusal = await expectCode(store.claimTask({ agent_id: 'o' }), 'UNKNOWN_AGENT');
      expect(refusal.message).toContain("channel 'ops'");
      expect((await store.claimTask({ agent_id: 'o', channel: 'ops' })).task?.id).toBe(t3.id);
      expect((await store.claimTask({ agent_id: 'a' })).task?.id).toBe(t2.id); // never the ops task
    });

    it('validates task input', async () => {
      const store = await stores.store({ max_value_size: 100 });
      await expectCode(store.postTask({ description: '  ', posted_by: 'a' }), 'BAD_REQUEST');
      await expectCode(store.postTask({ description: 'x'.repeat(101), posted_by: 'a' }), 'PAYLOAD_TOO_LARGE');
      await expectCode(store.postTask({ description: 'x', posted_by: 'a', priority: 1.5 }), 'BAD_REQUEST');
      await expectCode(store.claimTask({ agent_id: 'ghost' }), 'UNKNOWN_AGENT');
    });
  });
}
