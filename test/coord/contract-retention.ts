import { afterEach, describe, expect, it } from 'vitest';
import type { CoordStore } from '../../backends/coord/store.js';
import { expectCode, type MakeStore, registerAll, StoreSet, TestClock } from '../helpers/coord-store.js';

/** Retention (#21 item 11): messages and finished tasks past their age or per-channel count are pruned, read or not. */
export function retentionContract(make: MakeStore): void {
  describe('retention', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    /** Retention off but for the rules a test turns on (the defaults would apply 30 days and large counts). */
    const off = { message_retention: 0, message_retention_count: 0, task_retention: 0, task_retention_count: 0 };

    async function contents(store: CoordStore, agent = 'b', channel?: string): Promise<string[]> {
      const { messages } = await store.history({ agent_id: agent, limit: 1000, ...(channel === undefined ? {} : { channel }) });
      return messages.map((m) => m.content).reverse();
    }

    it('prunes messages older than message_retention, whether read or not, with their inbox copies', async () => {
      const clock = new TestClock();
      const store = await stores.store({ ...off, message_retention: 60 }, { now: clock.now });
      await registerAll(store, ['a', 'b', 'c']);
      await store.sendMessage({ from: 'a', to: 'b', content: 'old, read' });
      expect((await store.poll({ agent_id: 'b', timeout_ms: 0 })).messages).toHaveLength(1);
      await store.sendMessage({ from: 'a', to: 'b', content: 'old, unread' });
      await store.broadcast({ from: 'a', content: 'old broadcast' });
      clock.advance(30);
      await store.sendMessage({ from: 'a', to: 'b', content: 'recent' });
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0 });
      clock.advance(31);
      expect(await store.prune()).toEqual({ messages: 3, tasks: 0 });
      expect(await contents(store)).toEqual(['recent']);
      expect(await contents(store, 'c')).toEqual([]);
      const polled = await store.poll({ agent_id: 'b', timeout_ms: 0 });
      expect(polled.messages.map((m) => m.content)).toEqual(['recent']);
      expect((await store.stats()).messages.total).toBe(1);
      // Ids are never reused: the next message goes on after the newest ever sent.
      expect((await store.sendMessage({ from: 'a', to: 'b', content: 'next' })).id).toBe(5);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0 });
    });

    it('keeps the newest message_retention_count messages of each channel', async () => {
      const store = await stores.store({ ...off, message_retention_count: 3 });
      await registerAll(store, ['a', 'b']);
      await registerAll(store, ['x', 'y'], { channel: 'ops' });
      for (let i = 1; i <= 5; i += 1) await store.sendMessage({ from: 'a', to: 'b', content: `d${i}` });
      for (let i = 1; i <= 2; i += 1) await store.sendMessage({ from: 'x', to: 'y', content: `o${i}`, channel: 'ops' });
      expect(await store.prune()).toEqual({ messages: 2, tasks: 0 });
      expect(await contents(store)).toEqual(['d3', 'd4', 'd5']);
      expect(await contents(store, 'y', 'ops')).toEqual(['o1', 'o2']);
      expect((await store.poll({ agent_id: 'b', timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['d3', 'd4', 'd5']);
    });

    it('prunes in batches of retention_batch until nothing is due', async () => {
      const store = await stores.store({ ...off, message_retention_count: 1, retention_batch: 2 });
      await registerAll(store, ['a', 'b']);
      for (let i = 1; i <= 7; i += 1) await store.sendMessage({ from: 'a', to: 'b', content: `m${i}` });
      expect(await store.prune()).toEqual({ messages: 6, tasks: 0 });
      expect(await contents(store)).toEqual(['m7']);
    });

    it('lets calls run between batches: a send during a long prune answers before the prune ends', async () => {
      const store = await stores.store({ ...off, message_retention_count: 1, retention_batch: 4 });
      await registerAll(store, ['a', 'b']);
      for (let i = 1; i <= 200; i += 1) await store.sendMessage({ from: 'a', to: 'b', content: `m${i}` });
      let ended = false;
      const pruning = store.prune().then((report) => {
        ended = true;
        return report;
      });
      const sent = await store.sendMessage({ from: 'a', to: 'b', content: 'during the prune' });
      expect(sent.id).toBe(201);
      expect(ended).toBe(false);
      // The newest message at each batch is kept; the one sent meanwhile is newer than every pruned one.
      expect((await pruning).messages).toBeGreaterThanOrEqual(199);
      expect((await contents(store)).at(-1)).toBe('during the prune');
    });

    it('answers a poll whose whole unread inbox was pruned, and wakes it on the next message', async () => {
      const clock = new TestClock();
      const store = await stores.store({ ...off, message_retention: 10 }, { now: clock.now });
      await registerAll(store, ['a', 'b']);
      // An empty poll reads the inbox's newest id and cursor (copies a store may keep in memory), the send raises it.
      expect((await store.poll({ agent_id: 'b', timeout_ms: 0 })).messages).toEqual([]);
      await store.sendMessage({ from: 'a', to: 'b', content: 'gone before it was read' });
      clock.advance(11);
      expect(await store.prune()).toEqual({ messages: 1, tasks: 0 });
      const empty = await store.poll({ agent_id: 'b', timeout_ms: 0 });
      expect(empty.messages).toEqual([]);
      const waiting = store.poll({ agent_id: 'b', timeout_ms: 10_000 });
      await store.sendMessage({ from: 'a', to: 'b', content: 'fresh' });
      expect((await waiting).messages.map((m) => m.content)).toEqual(['fresh']);
    });

    it('prunes finished tasks past task_retention; pending and claimed ones stay', async () => {
      const clock = new TestClock();
      const store = await stores.store({ ...off, task_retention: 60, task_claim_timeout: 1000 }, { now: clock.now });
      await registerAll(store, ['w']);
      const done = await store.postTask({ description: 'done', posted_by: 'w' });
      const failed = await store.postTask({ description: 'failed', posted_by: 'w' });
      const claimed = await store.postTask({ description: 'claimed', posted_by: 'w' });
      const pending = await store.postTask({ description: 'pending', posted_by: 'w' });
      for (const status of ['complete', 'failed'] as const) {
        const { lease } = await store.claimTask({ agent_id: 'w' });
        await store.completeTask({ task_id: lease?.task_id ?? '', agent_id: 'w', status, epoch: lease?.epoch });
      }
      expect((await store.claimTask({ agent_id: 'w' })).task?.id).toBe(claimed.id);
      clock.advance(59);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0 });
      clock.advance(2);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 2 });
      await expectCode(store.getTask(done.id), 'UNKNOWN_TASK');
      await expectCode(store.getTask(failed.id), 'UNKNOWN_TASK');
      expect((await store.getTask(claimed.id)).status).toBe('claimed');
      expect((await store.getTask(pending.id)).status).toBe('pending');
    });

    it('keeps the task_retention_count most recently posted finished tasks of each channel', async () => {
      const store = await stores.store({ ...off, task_retention_count: 1 });
      await registerAll(store, ['w']);
      const ids: string[] = [];
      for (let i = 1; i <= 3; i += 1) {
        ids.push((await store.postTask({ description: `t${i}`, posted_by: 'w' })).id);
        const { lease } = await store.claimTask({ agent_id: 'w' });
        await store.completeTask({ task_id: lease?.task_id ?? '', agent_id: 'w', epoch: lease?.epoch });
      }
      await store.postTask({ description: 'still pending', posted_by: 'w' });
      expect(await store.prune()).toEqual({ messages: 0, tasks: 2 });
      expect((await store.listTasks({})).map((t) => t.description).sort()).toEqual(['still pending', 't3']);
      expect((await store.getTask(ids[2] ?? '')).status).toBe('complete');
    });

    it('keeps everything when every rule is 0', async () => {
      const clock = new TestClock();
      const store = await stores.store(off, { now: clock.now });
      await registerAll(store, ['a', 'b']);
      await store.sendMessage({ from: 'a', to: 'b', content: 'kept' });
      await store.postTask({ description: 'kept', posted_by: 'a' });
      const { lease } = await store.claimTask({ agent_id: 'a' });
      await store.completeTask({ task_id: lease?.task_id ?? '', agent_id: 'a' });
      clock.advance(10 * 365 * 86_400);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0 });
      expect(await contents(store)).toEqual(['kept']);
    });
  });
}
