import { afterEach, describe, expect, it } from 'vitest';
import type { CoordStore } from '../../backends/coord/store.js';
import { expectCode, type MakeStore, registerAll, StoreSet, TestClock } from '../helpers/coord-store.js';

/*
 * How an agent's work lives and ends with it (issue 21, items 4, 5 and 7):
 * deregistering releases its claims and returns its tasks in the same
 * transaction; a stale holder's claims stop blocking and scoring; a task
 * lease can be renewed by its holder; every call that names the acting
 * agent counts as its activity.
 */

/** Events of `types` since the start, oldest first. */
async function eventsOf(store: CoordStore, ...types: string[]): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  const page = await store.events({ after: 0, limit: 1000 });
  return page.events.filter((e) => types.includes(e.type));
}

/** The agent's status as discovery reports it. */
async function statusOf(store: CoordStore, agentId: string): Promise<string | undefined> {
  return (await store.discoverAgents({ include_stale: true })).find((a) => a.id === agentId)?.status;
}

export function lifecycleContract(make: MakeStore): void {
  describe('agent lifecycle: claims, leases, activity', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('deregister releases the agent’s live claims and returns its claimed tasks at once, with events', async () => {
      const store = await stores.store();
      await registerAll(store, ['gone', 'other']);
      const kept = await store.announceClaim({ agent_id: 'gone', paths: ['src/a.ts'], intent: 'Refactor a', exclusive: true });
      const second = await store.announceClaim({ agent_id: 'gone', paths: ['src/b.ts'], intent: 'Refactor b', repo: 'other-repo' });
      const task = await store.postTask({ description: 'build', posted_by: 'other' });
      const { lease } = await store.claimTask({ agent_id: 'gone' });
      expect(lease?.task_id).toBe(task.id);
      await expectCode(store.announceClaim({ agent_id: 'other', paths: ['src/a.ts'], intent: 'Also a', exclusive: true }), 'CONFLICT');

      const left = await store.deregisterAgent('gone');
      expect(left).toMatchObject({ deregistered: true, returned_tasks: [task.id] });
      expect([...left.released_claims].sort()).toEqual([kept.claim.id, second.claim.id].sort());

      // Nothing of it blocks any more, without waiting for a TTL or a lease.
      expect(await store.listClaims({})).toEqual([]);
      const mine = await store.announceClaim({ agent_id: 'other', paths: ['src/a.ts'], intent: 'Also a', exclusive: true });
      expect(mine).toMatchObject({ verdict: 'clear', conflicts: [] });
      const again = await store.claimTask({ agent_id: 'other' });
      expect(again.task).toMatchObject({ id: task.id, claimed_by: 'other', epoch: 2, attempts: 1 });
      // The old lease is dead: its holder cannot complete the task any more.
      await expectCode(store.completeTask({ task_id: task.id, agent_id: 'gone', epoch: lease?.epoch }), 'CONFLICT');

      const released = await eventsOf(store, 'claim_released');
      expect(released.map((e) => e.data)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ claim_id: kept.claim.id, agent_id: 'gone', reason: 'deregistered', forced: false }),
          expect.objectContaining({ claim_id: second.claim.id, agent_id: 'gone', reason: 'deregistered' }),
        ]),
      );
      expect((await eventsOf(store, 'task_requeued')).map((e) => e.data)).toEqual([
        { task_id: task.id, previous_claimer: 'gone', epoch: 1, attempts: 1, reason: 'deregistered' },
      ]);
      const gone = await eventsOf(store, 'agent_deregistered');
      expect(gone[0]?.data).toMatchObject({ agent_id: 'gone', returned_tasks: [task.id] });
      // Idempotent: a second deregistration ends nothing more.
      expect(await store.deregisterAgent('gone')).toMatchObject({ deregistered: false, released_claims: [], returned_tasks: [] });
    });

    it('a task claimed while its agent deregisters never stays claimed by the departed agent (race, 20 rounds)', async () => {
      const store = await stores.store();
      for (let round = 0; round < 20; round++) {
        const agent = `racer-${round}`;
        const channel = `race-${round}`; // one task per channel: a claim can only take this round's task
        await registerAll(store, [agent, `poster-${round}`], { channel });
        const task = await store.postTask({ description: `t${round}`, posted_by: `poster-${round}`, channel });
        const [claim] = await Promise.allSettled([store.claimTask({ agent_id: agent, channel }), store.deregisterAgent(agent)]);
        const after = await store.getTask(task.id);
        // Either the claim came first and the deregistration returned the task, or the claim found no agent.
        expect(after).toMatchObject({ status: 'pending', claimed_by: null });
        if (claim.status === 'fulfilled') expect(after.attempts).toBe(1);
        else expect(claim.reason).toMatchObject({ code: 'UNKNOWN_AGENT' });
      }
    });

    it('a stale holder’s claims stop blocking and scoring, show as stale, and count again once it is active', async () => {
      const clock = new TestClock();
      const store = await stores.store({ stale_threshold: 60, claim_ttl_default: 3600 }, { now: clock.now });
      await registerAll(store, ['sleepy', 'busy']);
      const held = await store.announceClaim({ agent_id: 'sleepy', paths: ['src/x.ts'], intent: 'Rewrite x', exclusive: true });
      await expectCode(store.announceClaim({ agent_id: 'busy', paths: ['src/x.ts'], intent: 'Fix x', exclusive: true }), 'CONFLICT');
      expect((await store.listClaims({}))[0]).toMatchObject({ id: held.claim.id, stale: false });

      clock.advance(61);
      const check = await store.checkClaims({ agent_id: 'busy', paths: ['src/x.ts'] });
      expect(check).toMatchObject({ verdict: 'clear', score: 0, conflicts: [] });
      expect(check.stale_conflicts).toEqual([expect.objectContaining({ claim_id: held.claim.id, agent_id: 'sleepy', score: 100, exclusive: true })]);
      expect(await store.listClaims({})).toEqual([expect.objectContaining({ id: held.claim.id, status: 'active', stale: true })]);
      const status = await store.claimStatus({});
      expect(status.claims).toEqual([expect.objectContaining({ id: held.claim.id, stale: true })]);

      const mine = await store.announceClaim({ agent_id: 'busy', paths: ['src/x.ts'], intent: 'Fix x', exclusive: true });
      expect(mine).toMatchObject({ verdict: 'clear', conflicts: [], thread: null });
      expect(mine.stale_conflicts.map((c) => c.claim_id)).toEqual([held.claim.id]);
      expect((await store.claimStatus({})).hot_paths).toEqual([]);

      // The holder comes back: its claim counts again (against the newer one too).
      await store.heartbeat('sleepy');
      expect((await store.listClaims({ agent_id: 'sleepy' }))[0]).toMatchObject({ stale: false });
      const back = await store.checkClaims({ agent_id: 'sleepy', paths: ['src/x.ts'] });
      expect(back.conflicts.map((c) => c.claim_id)).toEqual([mine.claim.id]);
      expect((await store.claimStatus({})).hot_paths).toEqual([{ repo: 'default', path: 'src/x.ts', agents: ['busy', 'sleepy'] }]);
    });

    it('renews a task lease for its holder, so work longer than task_claim_timeout is accepted', async () => {
      const clock = new TestClock();
      const store = await stores.store({ task_claim_timeout: 10, stale_threshold: 3600 }, { now: clock.now });
      await registerAll(store, ['builder', 'rival']);
      const task = await store.postTask({ description: 'a long build', posted_by: 'rival' });
      const { lease } = await store.claimTask({ agent_id: 'builder' });
      if (lease === null) throw new Error('no lease');
      for (let i = 0; i < 3; i++) {
        clock.advance(8);
        const renewed = await store.renewTask({ task_id: task.id, agent_id: 'builder', epoch: lease.epoch });
        expect(renewed).toEqual({ task_id: task.id, epoch: lease.epoch, expires_at: new Date(clock.ms + 10_000).toISOString() });
      }
      clock.advance(8); // 32 s after the claim, with a 10 s lease
      expect((await store.claimTask({ agent_id: 'rival' })).task).toBeNull();
      const done = await store.completeTask({ task_id: task.id, agent_id: 'builder', epoch: lease.epoch, result: 'built' });
      expect(done).toMatchObject({ status: 'complete', attempts: 0, epoch: lease.epoch });
      const renewedEvents = await eventsOf(store, 'task_renewed');
      expect(renewedEvents).toHaveLength(3);
      expect(renewedEvents[0]?.data).toMatchObject({ task_id: task.id, agent_id: 'builder', epoch: lease.epoch });
      await expectCode(store.renewTask({ task_id: task.id, agent_id: 'builder', epoch: lease.epoch }), 'CONFLICT');
    });

    it('refuses a renewal by anyone but the holder with the current epoch, and after the lease lapsed', async () => {
      const clock = new TestClock();
      const store = await stores.store({ task_claim_timeout: 10, stale_threshold: 3600 }, { now: clock.now });
      await registerAll(store, ['builder', 'rival']);
      const task = await store.postTask({ description: 'a long build', posted_by: 'rival' });
      const { lease } = await store.claimTask({ agent_id: 'builder' });
      if (lease === null) throw new Error('no lease');
      const refusal = await expectCode(store.renewTask({ task_id: task.id, agent_id: 'rival', epoch: lease.epoch }), 'CONFLICT');
      expect(refusal.message).toMatch(/claimed by 'builder', not 'rival'/);
      expect((await expectCode(store.renewTask({ task_id: task.id, agent_id: 'builder', epoch: lease.epoch + 1 }), 'CONFLICT')).message).toMatch(/stale/);
      await expectCode(store.renewTask({ task_id: 'no-such-task', agent_id: 'builder', epoch: 1 }), 'UNKNOWN_TASK');

      // Without renewing, the lease lapses as before: the renewal and the result are refused.
      clock.advance(11);
      expect((await expectCode(store.renewTask({ task_id: task.id, agent_id: 'builder', epoch: lease.epoch }), 'CONFLICT')).message).toMatch(/not claimed/);
      await expectCode(store.completeTask({ task_id: task.id, agent_id: 'builder', epoch: lease.epoch }), 'CONFLICT');
      expect((await store.getTask(task.id)).status).toBe('pending');
    });

    it('counts every call that names the acting agent as its activity, claim and thread operations included', async () => {
      const clock = new TestClock();
      const store = await stores.store({ stale_threshold: 60 }, { now: clock.now });
      await registerAll(store, ['actor', 'peer']);
      const claim = await store.announceClaim({ agent_id: 'actor', paths: ['src/a.ts'], intent: 'work' });
      const thread = await store.openThread({ agent_id: 'actor', participants: ['peer'], subject: 'who does a.ts' });
      const calls: Record<string, () => Promise<unknown>> = {
        announce: () => store.announceClaim({ agent_id: 'actor', paths: ['src/b.ts'], intent: 'more work' }),
        check: () => store.checkClaims({ agent_id: 'actor', paths: ['src/c.ts'] }),
        renewClaim: () => store.renewClaim({ claim_id: claim.claim.id, agent_id: 'actor' }),
        status: () => store.claimStatus({ agent_id: 'actor' }),
        openThread: () => store.openThread({ agent_id: 'actor', participants: ['peer'], subject: 'another' }),
        post: () => store.actOnThread({ thread_id: thread.id, agent_id: 'actor', action: 'post', content: 'context' }),
        getThread: () => store.getThread({ thread_id: thread.id, agent_id: 'actor' }),
        listThreads: () => store.listThreads({ agent_id: 'actor' }),
        updates: () => store.threadUpdates({ agent_id: 'actor' }),
        history: () => store.history({ agent_id: 'actor' }),
        postTask: () => store.postTask({ description: 'd', posted_by: 'actor' }),
        setState: () => store.setState({ key: 'k', value: 1, updated_by: 'actor' }),
        createChannel: () => store.createChannel({ name: 'side', created_by: 'actor' }),
        // A refused call is activity too: the agent is alive, only its request was wrong.
        refusedRelease: () => store.releaseClaim({ claim_id: 'no-such-claim', agent_id: 'actor' }).catch(() => undefined),
        release: () => store.releaseClaim({ claim_id: claim.claim.id, agent_id: 'actor' }),
      };
      for (const [name, call] of Object.entries(calls)) {
        clock.advance(61);
        expect(await statusOf(store, 'actor'), `before ${name}`).toBe('stale');
        await call();
        expect(await statusOf(store, 'actor'), `after ${name}`).toBe('active');
        expect((await store.discoverAgents({})).find((a) => a.id === 'actor')?.last_heartbeat, name).toBe(new Date(clock.ms).toISOString());
      }
      // Naming an agent that is not registered is no error of its own.
      await expect(store.checkClaims({ agent_id: 'nobody', paths: ['docs/n.md'] })).resolves.toMatchObject({ verdict: 'clear' });
      expect(await statusOf(store, 'nobody')).toBeUndefined();
    });
  });
}
