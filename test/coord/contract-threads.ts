import { afterEach, describe, expect, it } from 'vitest';
import type { CoordStore } from '../../backends/coord/store.js';
import { expectCode, type MakeStore, registerAll, StoreSet, TestClock } from '../helpers/coord-store.js';

/** A thread between a and b opened by a conflicting claim. */
async function conflictThread(store: CoordStore): Promise<string> {
  await store.announceClaim({ agent_id: 'b', paths: ['src/user.ts'], intent: 'Add updated_at' });
  const { thread } = await store.announceClaim({ agent_id: 'a', paths: ['src/user.ts'], intent: 'Migrate the User type' });
  if (thread === null) throw new Error('expected a thread');
  return thread.id;
}

/** Consultation threads: the state machine, visibility, updates, timeouts, notices and events. */
export function threadContract(make: MakeStore): void {
  describe('consultation threads', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('resolves when every participant approves the proposal; contest reopens it', async () => {
      const store = await stores.store();
      const id = await conflictThread(store);
      await store.actOnThread({ thread_id: id, agent_id: 'b', action: 'post', kind: 'warning', content: 'session.ts reads User.name' });
      const proposed = await store.actOnThread({
        thread_id: id,
        agent_id: 'a',
        action: 'post',
        kind: 'proposal',
        content: 'I migrate the type first, you rebase',
      });
      expect(proposed.thread).toMatchObject({ status: 'proposed', approvals: ['a'], proposal: { text: 'I migrate the type first, you rebase', by: 'a' } });
      expect(proposed.messages).toMatchObject([{ kind: 'proposal', agent_id: 'a' }]);
      expect(proposed.thread.proposal?.message_id).toBe(proposed.messages[0]?.id);

      const contested = await store.actOnThread({ thread_id: id, agent_id: 'b', action: 'contest', content: 'I am mid-change; give me 10 minutes' });
      expect(contested.thread).toMatchObject({ status: 'open', proposal: null, approvals: [] });
      await expectCode(store.actOnThread({ thread_id: id, agent_id: 'a', action: 'approve' }), 'CONFLICT'); // nothing to approve

      await store.actOnThread({ thread_id: id, agent_id: 'b', action: 'post', kind: 'proposal', content: 'I finish, then you migrate' });
      const resolved = await store.actOnThread({ thread_id: id, agent_id: 'a', action: 'approve', content: 'ok' });
      expect(resolved.thread).toMatchObject({
        status: 'resolved',
        resolution: { text: 'I finish, then you migrate', how: 'consensus' },
        auto_resolve_at: null,
      });

      const closed = await store.actOnThread({ thread_id: id, agent_id: 'b', action: 'close', content: 'done' });
      expect(closed.thread.status).toBe('closed');
      await expectCode(store.actOnThread({ thread_id: id, agent_id: 'a', action: 'post', content: 'late' }), 'CONFLICT');

      const view = await store.getThread({ thread_id: id, agent_id: 'a' });
      expect(view.messages.map((m) => m.kind)).toEqual(['opened', 'warning', 'proposal', 'contest', 'proposal', 'approve', 'close']);
    });

    it('opens threads on request, cancels them, and keeps them to their participants', async () => {
      const store = await stores.store({ claim_admins: ['lead'] });
      await registerAll(store, ['x', 'y']);
      const thread = await store.openThread({ agent_id: 'x', participants: ['y', 'x'], subject: 'Who owns the router?', paths: ['src/router/'] });
      expect(thread).toMatchObject({ participants: ['x', 'y'], paths: ['src/router/**'], status: 'open' });
      await expectCode(store.openThread({ agent_id: 'x', participants: ['x'], subject: 's' }), 'BAD_REQUEST');
      await expectCode(store.actOnThread({ thread_id: thread.id, agent_id: 'x', action: 'post', kind: 'shout' as 'context', content: 'hi' }), 'BAD_REQUEST');
      await expectCode(store.actOnThread({ thread_id: thread.id, agent_id: 'x', action: 'post', content: ' ' }), 'BAD_REQUEST');
      await expectCode(store.actOnThread({ thread_id: thread.id, agent_id: 'z', action: 'post', content: 'hi' }), 'FORBIDDEN');
      await expectCode(store.getThread({ thread_id: thread.id, agent_id: 'z' }), 'FORBIDDEN');
      expect((await store.getThread({ thread_id: thread.id, agent_id: 'lead' })).thread.id).toBe(thread.id); // admins may read
      await expectCode(store.getThread({ thread_id: 'nope', agent_id: 'x' }), 'UNKNOWN_THREAD');
      expect((await store.actOnThread({ thread_id: thread.id, agent_id: 'y', action: 'cancel' })).thread.status).toBe('cancelled');
      expect(await store.listThreads({ agent_id: 'y', status: 'cancelled' })).toHaveLength(1);
      expect(await store.listThreads({ agent_id: 'z' })).toEqual([]);
    });

    it('auto-resolves a thread idle past thread_timeout, with the proposal on the table', async () => {
      const clock = new TestClock();
      const store = await stores.store({ thread_timeout: 60 }, { now: clock.now });
      const id = await conflictThread(store);
      clock.advance(50);
      await store.actOnThread({ thread_id: id, agent_id: 'b', action: 'post', kind: 'proposal', content: 'split the file' });
      clock.advance(50); // activity moved the deadline
      expect((await store.getThread({ thread_id: id, agent_id: 'a' })).thread.status).toBe('proposed');
      clock.advance(11);
      const { thread, messages } = await store.getThread({ thread_id: id, agent_id: 'a' });
      expect(thread).toMatchObject({ status: 'resolved', resolution: { text: 'split the file', how: 'timeout' } });
      expect(messages[messages.length - 1]).toMatchObject({ kind: 'auto_resolved', agent_id: null });
      // A timed-out resolution can still be contested.
      expect((await store.actOnThread({ thread_id: id, agent_id: 'a', action: 'contest', content: 'no' })).thread.status).toBe('open');
    });

    it('answers updates since a message id across the agent threads', async () => {
      const store = await stores.store();
      const id = await conflictThread(store);
      await registerAll(store, ['a', 'c']);
      const other = await store.openThread({ agent_id: 'c', participants: ['a'], subject: 'Docs' });
      const all = await store.threadUpdates({ agent_id: 'a' });
      expect(all.messages.map((m) => m.thread_id)).toEqual([id, other.id]);
      expect(all.threads.map((t) => t.id)).toEqual([id, other.id]);
      await store.actOnThread({ thread_id: id, agent_id: 'b', action: 'post', kind: 'question', content: 'when?' });
      const next = await store.threadUpdates({ agent_id: 'a', after: all.next_after });
      expect(next.messages).toMatchObject([{ kind: 'question', content: 'when?', agent_id: 'b' }]);
      expect(next.has_more).toBe(false);
      expect((await store.threadUpdates({ agent_id: 'b', after: 0 })).threads.map((t) => t.id)).toEqual([id]);
      expect((await store.threadUpdates({ agent_id: 'a', after: 0, limit: 1 })).has_more).toBe(true);
    });

    it('puts each thread action in the inboxes of the other registered participants, and emits events', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      const id = await conflictThread(store);
      await store.actOnThread({ thread_id: id, agent_id: 'b', action: 'post', kind: 'context', content: 'I touch only the validators' });
      expect(await store.unreadCount('b')).toBe(1);
      const inbox = await store.poll({ agent_id: 'a', timeout_ms: 0 });
      expect(inbox.messages).toMatchObject([{ from: 'b', content: expect.stringContaining(`[thread ${id}] b context: I touch only the validators`) }]);
      const types = (await store.events({ after: 0 })).events.map((e) => e.type).filter((t) => t.startsWith('thread_'));
      expect(types).toEqual(['thread_opened', 'thread_message', 'thread_message']);
      // The notice's `message` event names its thread, as poll and history do; a plain message's does not.
      await store.sendMessage({ from: 'b', to: 'a', content: 'plain' });
      const messages = (await store.events({ after: 0 })).events.filter((e) => e.type === 'message' && e.data.to === 'a');
      expect(messages.map((e) => e.data)).toEqual([
        { message_id: expect.any(Number), from: 'b', to: 'a', content: expect.stringContaining(`[thread ${id}]`), kind: 'thread', thread_id: id },
        { message_id: expect.any(Number), from: 'b', to: 'a', content: 'plain' },
      ]);
      await store.actOnThread({ thread_id: id, agent_id: 'a', action: 'cancel' });
      const last = (await store.events({ after: 0 })).events.filter((e) => e.type === 'thread_status');
      expect(last.map((e) => e.data)).toEqual([{ thread_id: id, from: 'open', to: 'cancelled', action: 'cancel', by: 'a' }]);
    });
  });
}
