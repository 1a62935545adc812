import { afterEach, describe, expect, it } from 'vitest';
import { UNREAD_COUNT_CAP } from '../../backends/coord/unread-sql.js';
import { expectCode, type MakeStore, registerAll, StoreSet, TestClock } from '../helpers/coord-store.js';

/** Work claims: scoring against live claims, exclusivity, TTL, renew and release, scope, status, events. */
export function claimContract(make: MakeStore): void {
  describe('work claims', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('grants a claim with no conflicts as clear, and normalizes its paths', async () => {
      const store = await stores.store();
      const first = await store.announceClaim({
        agent_id: 'a',
        paths: ['./src\\auth/session.ts', 'src/auth/session.ts'],
        intent: 'Add updated_at to sessions',
      });
      expect(first).toMatchObject({ verdict: 'clear', score: 0, conflicts: [], thread: null });
      expect(first.claim).toMatchObject({
        agent_id: 'a',
        repo: 'default',
        channel: 'default',
        paths: ['src/auth/session.ts'],
        status: 'active',
        exclusive: false,
      });
      await expectCode(store.announceClaim({ agent_id: 'a', paths: [], intent: 'x' }), 'BAD_REQUEST');
      await expectCode(store.announceClaim({ agent_id: 'a', paths: ['../escape.ts'], intent: 'x' }), 'BAD_REQUEST');
      await expectCode(store.announceClaim({ agent_id: 'a', paths: ['a.ts'], intent: '  ' }), 'BAD_REQUEST');
      await expectCode(store.announceClaim({ agent_id: 'a', paths: ['a.ts'], intent: 'x', ttl_seconds: 0 }), 'BAD_REQUEST');
    });

    it('scores another agent on the same file 100 with who, paths, intent and reason, and opens a thread', async () => {
      const store = await stores.store();
      const held = await store.announceClaim({ agent_id: 'alice', paths: ['src/auth/session.ts'], intent: 'Refactor session storage' });
      const mine = await store.announceClaim({ agent_id: 'bob', paths: ['src/auth/**'], intent: 'Rename User fields' });
      expect(mine.verdict).toBe('conflict');
      expect(mine.score).toBe(100);
      expect(mine.conflicts).toEqual([
        expect.objectContaining({
          agent_id: 'alice',
          claim_id: held.claim.id,
          paths: ['src/auth/session.ts'],
          intent: 'Refactor session storage',
          score: 100,
          layer: 'same_file',
        }),
      ]);
      expect(mine.conflicts[0]?.reason).toContain('src/auth/session.ts');
      expect(mine.thread).toMatchObject({ status: 'open', opened_by: 'bob', participants: ['bob', 'alice'], claim_ids: [mine.claim.id, held.claim.id] });
      // The agent's own claims never conflict with each other.
      expect((await store.announceClaim({ agent_id: 'bob', paths: ['src/auth/**'], intent: 'more' })).conflicts.map((c) => c.agent_id)).toEqual(['alice']);
    });

    it('scores a dependency overlap 80 and a module overlap 30, without a thread', async () => {
      const store = await stores.store();
      await store.announceClaim({ agent_id: 'db', paths: ['src/db/schema.ts'], intent: 'Change the schema' });
      const reader = await store.announceClaim({ agent_id: 'api', paths: ['src/api/users.ts'], depends_on: ['src/db/*.ts'], intent: 'New endpoint' });
      expect(reader).toMatchObject({
        verdict: 'caution',
        score: 80,
        thread: null,
        conflicts: [expect.objectContaining({ agent_id: 'db', layer: 'dependency', score: 80 })],
      });
      const neighbour = await store.announceClaim({ agent_id: 'other', paths: ['src/db/migrations/001.sql'], intent: 'Migration tool' });
      expect(neighbour).toMatchObject({ verdict: 'caution', score: 30, thread: null });
      expect(neighbour.conflicts.map((c) => [c.agent_id, c.layer])).toEqual([['db', 'module']]);
      // Named modules: folders with or without a trailing slash, never globs.
      const named = await store.announceClaim({ agent_id: 'named', paths: ['lib/x.ts'], modules: ['src/db/'], intent: 'Module by name' });
      expect(named).toMatchObject({ score: 30, claim: { modules: ['src/db'] } });
      await expectCode(store.announceClaim({ agent_id: 'named', paths: ['lib/x.ts'], modules: ['src/*'], intent: 'x' }), 'BAD_REQUEST');
    });

    it('never lets different repositories or channels conflict on equal paths', async () => {
      const store = await stores.store();
      await store.announceClaim({ agent_id: 'a', paths: ['src/index.ts'], intent: 'x', repo: 'frontend', exclusive: true });
      const other = await store.announceClaim({ agent_id: 'b', paths: ['src/index.ts'], intent: 'y', repo: 'backend', exclusive: true });
      expect(other).toMatchObject({ verdict: 'clear', conflicts: [] });
      expect((await store.announceClaim({ agent_id: 'c', paths: ['src/index.ts'], intent: 'z', repo: 'frontend', channel: 'team-2' })).verdict).toBe('clear');
      expect((await store.checkClaims({ paths: ['src/index.ts'], repo: 'frontend' })).conflicts.map((c) => c.agent_id)).toEqual(['a']);
    });

    it('refuses an exclusive claim while another agent holds the file, naming the holder; grants it after release or expiry', async () => {
      const clock = new TestClock();
      const store = await stores.store({ claim_ttl_default: 60 }, { now: clock.now });
      const held = await store.announceClaim({ agent_id: 'alice', paths: ['src/a.ts'], intent: 'Hold a' });
      const refused = await expectCode(store.announceClaim({ agent_id: 'bob', paths: ['src/*.ts'], intent: 'Take a', exclusive: true }), 'CONFLICT');
      expect(refused.message).toContain("'alice'");
      expect(refused.details).toMatchObject({ verdict: 'conflict', holders: [{ agent_id: 'alice', claim_id: held.claim.id, intent: 'Hold a', score: 100 }] });
      expect(await store.listClaims({ agent_id: 'bob' })).toEqual([]); // nothing was recorded

      await store.releaseClaim({ claim_id: held.claim.id, agent_id: 'alice' });
      const granted = await store.announceClaim({ agent_id: 'bob', paths: ['src/*.ts'], intent: 'Take a', exclusive: true, ttl_seconds: 30 });
      expect(granted).toMatchObject({ verdict: 'clear', claim: { exclusive: true } });
      // An exclusive holder refuses others too, until its TTL passes.
      await expectCode(store.announceClaim({ agent_id: 'carol', paths: ['src/a.ts'], intent: 'c' }), 'CONFLICT');
      clock.advance(31);
      expect((await store.announceClaim({ agent_id: 'carol', paths: ['src/a.ts'], intent: 'c', exclusive: true })).verdict).toBe('clear');
    });

    it('expires claims at their TTL, caps the TTL, and renews only for the holder while live', async () => {
      const clock = new TestClock();
      const store = await stores.store({ claim_ttl_default: 60, claim_ttl_max: 120 }, { now: clock.now });
      const claim = (await store.announceClaim({ agent_id: 'a', paths: ['x.ts'], intent: 'x', ttl_seconds: 10_000 })).claim;
      expect(Date.parse(claim.expires_at) - clock.ms).toBe(120_000);
      clock.advance(100);
      await expectCode(store.renewClaim({ claim_id: claim.id, agent_id: 'b' }), 'FORBIDDEN');
      const renewed = await store.renewClaim({ claim_id: claim.id, agent_id: 'a', ttl_seconds: 60 });
      expect(Date.parse(renewed.expires_at)).toBe(clock.ms + 60_000);
      clock.advance(59);
      expect((await store.checkClaims({ paths: ['x.ts'] })).score).toBe(100);
      clock.advance(2);
      expect(await store.checkClaims({ paths: ['x.ts'] })).toEqual({ verdict: 'clear', score: 0, conflicts: [], stale_conflicts: [] });
      await expectCode(store.renewClaim({ claim_id: claim.id, agent_id: 'a' }), 'CONFLICT');
      expect(await store.releaseClaim({ claim_id: claim.id, agent_id: 'a' })).toMatchObject({ status: 'expired', released_at: null });
      await expectCode(store.renewClaim({ claim_id: 'no-such-claim', agent_id: 'a' }), 'UNKNOWN_CLAIM');
    });

    it('refuses a forced release by another agent unless it is a claim admin', async () => {
      const store = await stores.store({ claim_admins: ['lead'] });
      const claim = (await store.announceClaim({ agent_id: 'a', paths: ['x.ts'], intent: 'x' })).claim;
      const refused = await expectCode(store.releaseClaim({ claim_id: claim.id, agent_id: 'b' }), 'FORBIDDEN');
      expect(refused.message).toContain("held by 'a'");
      const forced = await store.releaseClaim({ claim_id: claim.id, agent_id: 'lead' });
      expect(forced).toMatchObject({ status: 'released', released_by: 'lead' });
      expect(await store.releaseClaim({ claim_id: claim.id, agent_id: 'a' })).toMatchObject({ status: 'released', released_by: 'lead' }); // idempotent
      expect(await store.listClaims({})).toEqual([]);
    });

    it('checks without claiming, leaving out the asking agent', async () => {
      const store = await stores.store();
      await store.announceClaim({ agent_id: 'a', paths: ['lib/**'], intent: 'Rewrite lib' });
      const seen = await store.checkClaims({ paths: ['lib/util.ts'], agent_id: 'b' });
      expect(seen).toMatchObject({ verdict: 'conflict', score: 100, conflicts: [{ agent_id: 'a', paths: ['lib/**'] }] });
      expect((await store.checkClaims({ paths: ['lib/util.ts'], agent_id: 'a' })).conflicts).toEqual([]);
      expect(await store.listClaims({})).toHaveLength(1);
      expect(await store.listThreads({})).toEqual([]);
    });

    it('reports live claims, hot paths and open threads in the status', async () => {
      const store = await stores.store();
      await store.announceClaim({ agent_id: 'a', paths: ['src/a.ts', 'src/b.ts'], intent: 'a' });
      await store.announceClaim({ agent_id: 'b', paths: ['src/*.ts'], intent: 'b' });
      await store.announceClaim({ agent_id: 'c', paths: ['docs/x.md'], intent: 'c', repo: 'site' });
      const status = await store.claimStatus({});
      expect(status.claims.map((c) => c.agent_id)).toEqual(['a', 'b', 'c']);
      expect(status.hot_paths).toEqual([
        { repo: 'default', path: 'src/a.ts', agents: ['a', 'b'] },
        { repo: 'default', path: 'src/b.ts', agents: ['a', 'b'] },
        { repo: 'default', path: 'src/*.ts', agents: ['a', 'b'] },
      ]);
      expect(status.threads).toHaveLength(1);
      expect((await store.claimStatus({ repo: 'site' })).hot_paths).toEqual([]);
    });

    it('records claim events in the event log, expiry included', async () => {
      const clock = new TestClock();
      const store = await stores.store({}, { now: clock.now });
      const claim = (await store.announceClaim({ agent_id: 'a', paths: ['x.ts'], intent: 'x', ttl_seconds: 5 })).claim;
      await store.renewClaim({ claim_id: claim.id, agent_id: 'a', ttl_seconds: 5 });
      const other = (await store.announceClaim({ agent_id: 'b', paths: ['y.ts'], intent: 'y' })).claim;
      await store.releaseClaim({ claim_id: other.id, agent_id: 'b' });
      clock.advance(6);
      await store.listClaims({}); // reads do not write; the next write sweeps
      await store.announceClaim({ agent_id: 'c', paths: ['z.ts'], intent: 'z' });
      const types = (await store.events({ after: 0 })).events.map((e) => e.type).filter((t) => t.startsWith('claim_'));
      expect(types).toEqual(['claim_announced', 'claim_renewed', 'claim_announced', 'claim_released', 'claim_expired', 'claim_announced']);
    });

    it('counts unread messages past the agent cursors across channels', async () => {
      const store = await stores.store();
      await registerAll(store, ['r', 's']);
      await registerAll(store, ['t'], { channel: 'other' });
      expect(await store.unreadCount('r')).toBe(0);
      await store.sendMessage({ from: 's', to: 'r', content: '1' });
      await store.sendMessage({ from: 's', to: 'r', content: '2' });
      expect(await store.unreadCount('r')).toBe(2);
      await store.poll({ agent_id: 'r', timeout_ms: 0, limit: 1 });
      expect(await store.unreadCount('r')).toBe(1);
      expect(await store.unreadCount('nobody')).toBe(0);
      // Mail in a second channel (no cursor there yet) counts too; a poll there moves only that channel's cursor.
      await store.registerAgent({ agent_id: 'r', role: 'worker', channel: 'other' });
      await store.sendMessage({ from: 't', to: 'r', content: '3', channel: 'other' });
      await store.sendMessage({ from: 't', to: 'r', content: '4', channel: 'other' });
      expect(await store.unreadCount('r')).toBe(3);
      await store.poll({ agent_id: 'r', channel: 'other', timeout_ms: 0, limit: 1 });
      expect(await store.unreadCount('r')).toBe(2);
      await store.poll({ agent_id: 'r', channel: 'other', timeout_ms: 0 });
      expect(await store.unreadCount('r')).toBe(1);
    });

    it('stops counting unread messages at UNREAD_COUNT_CAP, while deregister reports them all', async () => {
      const store = await stores.store();
      await registerAll(store, ['r', 's']);
      for (let sent = 0; sent < UNREAD_COUNT_CAP + 5; sent += 67) {
        const batch = Math.min(67, UNREAD_COUNT_CAP + 5 - sent);
        await Promise.all(Array.from({ length: batch }, (_, i) => store.sendMessage({ from: 's', to: 'r', content: `${sent + i}` })));
      }
      expect(await store.unreadCount('r')).toBe(UNREAD_COUNT_CAP);
      await store.poll({ agent_id: 'r', timeout_ms: 0, limit: 10 });
      expect(await store.unreadCount('r')).toBe(UNREAD_COUNT_CAP - 5);
      expect((await store.deregisterAgent('r')).pending_messages).toBe(UNREAD_COUNT_CAP - 5);
    });
  });
}
