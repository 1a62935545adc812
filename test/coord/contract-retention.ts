import { afterEach, describe, expect, it } from 'vitest';
import type { CoordStore } from '../../backends/coord/store.js';
import { expectCode, type MakeStore, registerAll, StoreSet, TestClock } from '../helpers/coord-store.js';

/** Retention (#21 item 11): messages and finished tasks past their age or per-channel count, ended claims and threads past their age, are pruned. */
export function retentionContract(make: MakeStore): void {
  describe('retention', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    /** Retention off but for the rules a test turns on (the defaults would apply 30 days and large counts). */
    const off = { message_retention: 0, message_retention_count: 0, task_retention: 0, task_retention_count: 0, claim_retention: 0, thread_retention: 0 };

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
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 0, threads: 0 });
      clock.advance(31);
      expect(await store.prune()).toEqual({ messages: 3, tasks: 0, claims: 0, threads: 0 });
      expect(await contents(store)).toEqual(['recent']);
      expect(await contents(store, 'c')).toEqual([]);
      const polled = await store.poll({ agent_id: 'b', timeout_ms: 0 });
      expect(polled.messages.map((m) => m.content)).toEqual(['recent']);
      expect((await store.stats()).messages.total).toBe(1);
      // Ids are never reused: the next message goes on after the newest ever sent.
      expect((await store.sendMessage({ from: 'a', to: 'b', content: 'next' })).id).toBe(5);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 0, threads: 0 });
    });

    it('keeps the newest message_retention_count messages of each channel', async () => {
      const store = await stores.store({ ...off, message_retention_count: 3 });
      await registerAll(store, ['a', 'b']);
      await registerAll(store, ['x', 'y'], { channel: 'ops' });
      for (let i = 1; i <= 5; i += 1) await store.sendMessage({ from: 'a', to: 'b', content: `d${i}` });
      for (let i = 1; i <= 2; i += 1) await store.sendMessage({ from: 'x', to: 'y', content: `o${i}`, channel: 'ops' });
      expect(await store.prune()).toEqual({ messages: 2, tasks: 0, claims: 0, threads: 0 });
      expect(await contents(store)).toEqual(['d3', 'd4', 'd5']);
      expect(await contents(store, 'y', 'ops')).toEqual(['o1', 'o2']);
      expect((await store.poll({ agent_id: 'b', timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['d3', 'd4', 'd5']);
    });

    it('prunes in batches of retention_batch until nothing is due', async () => {
      const store = await stores.store({ ...off, message_retention_count: 1, retention_batch: 2 });
      await registerAll(store, ['a', 'b']);
      for (let i = 1; i <= 7; i += 1) await store.sendMessage({ from: 'a', to: 'b', content: `m${i}` });
      expect(await store.prune()).toEqual({ messages: 6, tasks: 0, claims: 0, threads: 0 });
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
      expect(await store.prune()).toEqual({ messages: 1, tasks: 0, claims: 0, threads: 0 });
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
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 0, threads: 0 });
      clock.advance(2);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 2, claims: 0, threads: 0 });
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
      expect(await store.prune()).toEqual({ messages: 0, tasks: 2, claims: 0, threads: 0 });
      expect((await store.listTasks({})).map((t) => t.description).sort()).toEqual(['still pending', 't3']);
      expect((await store.getTask(ids[2] ?? '')).status).toBe('complete');
    });

    it('prunes released and expired claims claim_retention after they ended; live claims stay', async () => {
      const clock = new TestClock();
      const store = await stores.store({ ...off, claim_retention: 60 }, { now: clock.now });
      await registerAll(store, ['a']);
      const announce = async (path: string, ttl_seconds: number): Promise<string> =>
        (await store.announceClaim({ agent_id: 'a', paths: [path], intent: path, ttl_seconds })).claim.id;
      const released = await announce('released.ts', 1000);
      const expired = await announce('expired.ts', 10);
      const live = await announce('live.ts', 100_000);
      await store.releaseClaim({ claim_id: released, agent_id: 'a' });
      clock.advance(11);
      expect(await store.releaseClaim({ claim_id: expired, agent_id: 'a' })).toMatchObject({ status: 'expired' });
      clock.advance(48); // released 59 s ago, expired (at its expires_at) 49 s ago
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 0, threads: 0 });
      clock.advance(2);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 1, threads: 0 });
      await expectCode(store.releaseClaim({ claim_id: released, agent_id: 'a' }), 'UNKNOWN_CLAIM');
      clock.advance(10);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 1, threads: 0 });
      await expectCode(store.releaseClaim({ claim_id: expired, agent_id: 'a' }), 'UNKNOWN_CLAIM');
      expect((await store.listClaims({})).map((c) => c.id)).toEqual([live]);
    });

    it('prunes resolved, closed and cancelled threads with their messages thread_retention after their last change', async () => {
      const clock = new TestClock();
      const store = await stores.store({ ...off, thread_retention: 60, thread_timeout: 100_000 }, { now: clock.now });
      await registerAll(store, ['x', 'y']);
      const open = async (subject: string): Promise<string> => (await store.openThread({ agent_id: 'x', participants: ['y'], subject })).id;
      const cancelled = await open('cancelled');
      await store.actOnThread({ thread_id: cancelled, agent_id: 'x', action: 'cancel' });
      const closed = await open('closed');
      await store.actOnThread({ thread_id: closed, agent_id: 'y', action: 'close', content: 'done' });
      const resolved = await open('resolved');
      await store.actOnThread({ thread_id: resolved, agent_id: 'x', action: 'post', kind: 'proposal', content: 'I go first' });
      expect((await store.actOnThread({ thread_id: resolved, agent_id: 'y', action: 'approve' })).thread.status).toBe('resolved');
      const stillOpen = await open('still open');
      const lateClosed = await open('closed later');
      clock.advance(30);
      await store.actOnThread({ thread_id: lateClosed, agent_id: 'x', action: 'close' });
      clock.advance(31); // the first three ended 61 s ago, the late one 31 s ago
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 0, threads: 3 });
      for (const id of [cancelled, closed, resolved]) await expectCode(store.getThread({ thread_id: id, agent_id: 'x' }), 'UNKNOWN_THREAD');
      const updates = await store.threadUpdates({ agent_id: 'y', after: 0 });
      expect([...new Set(updates.messages.map((m) => m.thread_id))].sort()).toEqual([stillOpen, lateClosed].sort());
      expect((await store.getThread({ thread_id: stillOpen, agent_id: 'y' })).thread.status).toBe('open');
      clock.advance(30);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 0, threads: 1 });
      expect((await store.getThread({ thread_id: stillOpen, agent_id: 'y' })).messages.length).toBeGreaterThan(0);
    });

    it('keeps everything when every rule is 0', async () => {
      const clock = new TestClock();
      const store = await stores.store(off, { now: clock.now });
      await registerAll(store, ['a', 'b']);
      await store.sendMessage({ from: 'a', to: 'b', content: 'kept' });
      await store.postTask({ description: 'kept', posted_by: 'a' });
      const { lease } = await store.claimTask({ agent_id: 'a' });
      await store.completeTask({ task_id: lease?.task_id ?? '', agent_id: 'a' });
      const claim = (await store.announceClaim({ agent_id: 'a', paths: ['kept.ts'], intent: 'kept' })).claim;
      await store.releaseClaim({ claim_id: claim.id, agent_id: 'a' });
      const thread = await store.openThread({ agent_id: 'a', participants: ['b'], subject: 'kept' });
      await store.actOnThread({ thread_id: thread.id, agent_id: 'a', action: 'cancel' });
      clock.advance(10 * 365 * 86_400);
      expect(await store.prune()).toEqual({ messages: 0, tasks: 0, claims: 0, threads: 0 });
      // The message, and the thread's two notices to b.
      expect(await contents(store)).toEqual(['kept', expect.stringContaining('[thread'), expect.stringContaining('[thread')]);
      expect((await store.releaseClaim({ claim_id: claim.id, agent_id: 'a' })).status).toBe('released');
      expect((await store.getThread({ thread_id: thread.id, agent_id: 'a' })).thread.status).toBe('cancelled');
    });
  });
}
