import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, type MakeStore, registerAll, StoreSet, TestClock } from '../helpers/coord-store.js';

/**
 * Issue #21 items 3 and 6 at the store: claim paths in their repository's
 * canonical form; threads only between registered agents about existing
 * claims; one live thread per conflict; idempotent announce; thread notices
 * carrying kind "thread" and thread_id.
 */
export function conflictThreadContract(make: MakeStore): void {
  describe('claim paths and conflict threads (#21)', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('stores claim paths in the canonical form of their repository and scores every spelling as one file', async () => {
      const store = await stores.store({ repositories: { mac: { root: '/src/mac', case_insensitive: true } } });
      const held = await store.announceClaim({ agent_id: 'a', paths: [' SRC//Auth/./Cafe\u0301.ts'], intent: 'Edit', repo: 'mac', exclusive: true });
      expect(held.claim.paths).toEqual(['src/auth/caf\u00e9.ts']);
      for (const spelling of ['src/auth/caf\u00e9.ts', '/src/mac/SRC/auth/CAF\u00c9.ts', 'src/auth', 'src\\auth\\caf\u00e9.ts ']) {
        await expectCode(store.announceClaim({ agent_id: 'b', paths: [spelling], intent: 'Also', repo: 'mac', exclusive: true }), 'CONFLICT');
      }
      // Case matters in a repository not declared case-insensitive.
      await store.announceClaim({ agent_id: 'a', paths: ['src/A.ts'], intent: 'Edit', repo: 'plain', exclusive: true });
      expect((await store.announceClaim({ agent_id: 'b', paths: ['src/a.ts'], intent: 'Other file', repo: 'plain', exclusive: true })).verdict).not.toBe(
        'conflict',
      );
      await expectCode(store.announceClaim({ agent_id: 'b', paths: ['/etc/x'], intent: 'x', repo: 'plain' }), 'BAD_REQUEST');
      await expectCode(store.announceClaim({ agent_id: 'b', paths: ['/other/x'], intent: 'x', repo: 'mac' }), 'BAD_REQUEST');
    });

    it('opens threads on request only between agents registered in its channel, about claims that exist', async () => {
      const store = await stores.store();
      await registerAll(store, ['x', 'y']);
      await registerAll(store, ['far'], { channel: 'ops' });
      await expectCode(store.openThread({ agent_id: 'x', participants: ['ghost'], subject: 'Anyone?' }), 'UNKNOWN_AGENT');
      await expectCode(store.openThread({ agent_id: 'nobody', participants: ['x'], subject: 'Hi' }), 'UNKNOWN_AGENT');
      await expectCode(store.openThread({ agent_id: 'x', participants: ['far'], subject: 'Across' }), 'UNKNOWN_AGENT');
      await expectCode(store.openThread({ agent_id: 'x', participants: ['y'], subject: 'Claims', claim_ids: ['no-such-claim'] }), 'UNKNOWN_CLAIM');
      expect(await store.listThreads({})).toEqual([]);
      const claim = await store.announceClaim({ agent_id: 'x', paths: ['a.ts'], intent: 'Edit' });
      const thread = await store.openThread({ agent_id: 'x', participants: ['y'], subject: 'About a.ts', claim_ids: [claim.claim.id] });
      expect(thread).toMatchObject({ participants: ['x', 'y'], claim_ids: [claim.claim.id] });
    });

    it('keeps one live thread per conflict: an open about the same claims answers it, until it ends', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      const first = await store.announceClaim({ agent_id: 'a', paths: ['src/x.ts'], intent: 'One' });
      const second = await store.announceClaim({ agent_id: 'b', paths: ['src/x.ts'], intent: 'Two' });
      const thread = second.thread;
      if (thread === null) throw new Error('expected a conflict thread');
      const again = await store.openThread({ agent_id: 'a', participants: ['b'], subject: 'Again', claim_ids: [first.claim.id, second.claim.id] });
      expect(again.id).toBe(thread.id);
      await store.actOnThread({ thread_id: thread.id, agent_id: 'a', action: 'close' });
      const fresh = await store.openThread({ agent_id: 'a', participants: ['b'], subject: 'Again', claim_ids: [second.claim.id, first.claim.id] });
      expect(fresh.id).not.toBe(thread.id);
    });

    it('answers a repeated announce of the same work with the same claim and thread, replacing its intent and extending it', async () => {
      const clock = new TestClock();
      const store = await stores.store({}, { now: clock.now });
      await registerAll(store, ['a', 'b']);
      await store.announceClaim({ agent_id: 'a', paths: ['src/x.ts'], intent: 'Mine' });
      const first = await store.announceClaim({ agent_id: 'b', paths: ['src/x.ts', 'src/y.ts'], intent: 'Rewrite x', ttl_seconds: 60 });
      expect(first.repeated).toBe(false);
      clock.advance(30);
      const again = await store.announceClaim({ agent_id: 'b', paths: ['src/y.ts', './src/x.ts'], intent: 'Rewrite x and y', ttl_seconds: 60 });
      expect(again).toMatchObject({ repeated: true, verdict: 'conflict', claim: { id: first.claim.id, intent: 'Rewrite x and y' } });
      expect(again.thread?.id).toBe(first.thread?.id);
      expect(Date.parse(again.claim.expires_at)).toBe(Date.parse(first.claim.expires_at) + 30_000);
      expect(await store.listClaims({ agent_id: 'b' })).toHaveLength(1);
      expect(await store.listThreads({})).toHaveLength(1);
      // Other work (another flag, other paths) is another claim.
      expect((await store.announceClaim({ agent_id: 'b', paths: ['src/x.ts'], intent: 'Only x' })).repeated).toBe(false);
    });

    it('gives two announces of the same work at once one claim and one thread', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      await store.announceClaim({ agent_id: 'a', paths: ['src/x.ts'], intent: 'Mine' });
      const both = await Promise.all([0, 1].map(() => store.announceClaim({ agent_id: 'b', paths: ['src/x.ts'], intent: 'Mine too' })));
      expect(new Set(both.map((r) => r.claim.id)).size).toBe(1);
      expect(both.map((r) => r.repeated).sort()).toEqual([false, true]);
      expect(await store.listThreads({})).toHaveLength(1);
      expect((await store.poll({ agent_id: 'a', timeout_ms: 0 })).messages).toHaveLength(1);
    });

    it('puts thread notices in inboxes with kind "thread" and the thread_id as fields', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      await store.announceClaim({ agent_id: 'a', paths: ['src/x.ts'], intent: 'Mine' });
      const { thread } = await store.announceClaim({ agent_id: 'b', paths: ['src/x.ts'], intent: 'Mine too' });
      await store.sendMessage({ from: 'b', to: 'a', content: 'plain' });
      const inbox = await store.poll({ agent_id: 'a', timeout_ms: 0 });
      expect(inbox.messages).toMatchObject([
        { kind: 'thread', thread_id: thread?.id, from: 'b', to: 'a' },
        { kind: 'direct', content: 'plain' },
      ]);
      expect(inbox.messages[1]).not.toHaveProperty('thread_id');
      const history = await store.history({ agent_id: 'a', with_agent: 'b' });
      expect(history.messages.map((m) => m.kind)).toEqual(['direct', 'thread']);
    });
  });
}
