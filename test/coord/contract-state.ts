import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, type MakeStore, registerAll, StoreSet } from '../helpers/coord-store.js';

/** Shared state with CAS and watch, channels and isolation, the event log, and closing. */
export function stateContract(make: MakeStore): void {
  describe('shared state', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('reads version 0 for a missing key, and each write adds one to the version', async () => {
      const store = await stores.store();
      expect(await store.getState('deploy')).toEqual({ key: 'deploy', channel: 'default', value: null, version: 0, updated_by: null, updated_at: null });
      const v1 = await store.setState({ key: 'deploy', value: 'in-progress', updated_by: 'deployer' });
      expect(v1).toMatchObject({ value: 'in-progress', version: 1, updated_by: 'deployer' });
      const v2 = await store.setState({ key: 'deploy', value: { stage: 2, ok: true } });
      expect(v2).toMatchObject({ value: { stage: 2, ok: true }, version: 2, updated_by: null });
      expect(await store.getState('deploy')).toEqual(v2);
    });

    it('compare-and-set: a stale expected_version is CONFLICT carrying the current version and value', async () => {
      const store = await stores.store();
      await store.setState({ key: 'k', value: 'first', expected_version: 0 }); // create-if-absent
      await expectCode(store.setState({ key: 'k', value: 'again', expected_version: 0 }), 'CONFLICT');
      await store.setState({ key: 'k', value: 'second', expected_version: 1, updated_by: 'x' });
      const conflict = await expectCode(store.setState({ key: 'k', value: 'lost update', expected_version: 1 }), 'CONFLICT');
      expect(conflict.details).toMatchObject({ current_version: 2, current_value: 'second', expected_version: 1, updated_by: 'x' });
      expect((await store.getState('k')).value).toBe('second');
    });

    it('watch returns as soon as the version passes after_version, or unchanged at the timeout', async () => {
      const store = await stores.store();
      await store.setState({ key: 'stage', value: 'a' });
      const watching = store.watchState({ key: 'stage', after_version: 1, timeout_ms: 10_000 });
      setTimeout(() => void store.setState({ key: 'stage', value: 'b' }), 30);
      const t0 = performance.now();
      const changed = await watching;
      expect(changed).toMatchObject({ changed: true, value: 'b', version: 2 });
      expect(performance.now() - t0).toBeLessThan(1000);
      // Already past: answers at once.
      expect(await store.watchState({ key: 'stage', after_version: 0, timeout_ms: 10_000 })).toMatchObject({ changed: true, version: 2 });
      const quiet = await store.watchState({ key: 'stage', timeout_ms: 50 });
      expect(quiet).toMatchObject({ changed: false, version: 2, value: 'b' });
    });

    it('refuses a missing value and values over max_value_size', async () => {
      const store = await stores.store({ max_value_size: 20 });
      await expectCode(store.setState({ key: 'k', value: undefined }), 'BAD_REQUEST');
      await expectCode(store.setState({ key: 'k', value: 'x'.repeat(50) }), 'PAYLOAD_TOO_LARGE');
    });
  });

  describe('channels', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('creates channels idempotently and lists them with counts (channels used implicitly appear too)', async () => {
      const store = await stores.store();
      const created = await store.createChannel({ name: 'auth-service', created_by: 'orchestrator', description: 'auth' });
      expect(created).toMatchObject({ created: true, channel: { name: 'auth-service', created_by: 'orchestrator', agents: 0 } });
      expect((await store.createChannel({ name: 'auth-service' })).created).toBe(false);
      await store.registerAgent({ agent_id: 'p', role: 'r', channel: 'payments' });
      await store.setState({ key: 'k', value: 1, channel: 'payments' });
      const list = await store.listChannels();
      expect(list.map((c) => c.name)).toEqual(['auth-service', 'default', 'payments']);
      expect(list.find((c) => c.name === 'payments')).toMatchObject({ agents: 1, state_keys: 1 });
      await expectCode(store.createChannel({ name: '../etc' }), 'BAD_REQUEST');
    });

    it('keeps agents, messages, tasks and state of one channel out of every other', async () => {
      const store = await stores.store();
      await registerAll(store, ['a1', 'a2'], { channel: 'alpha' });
      await registerAll(store, ['b1', 'b2'], { channel: 'beta' });
      await store.sendMessage({ from: 'a1', to: 'a2', content: 'alpha secret', channel: 'alpha' });
      await store.broadcast({ from: 'a1', content: 'alpha news', channel: 'alpha' });
      await store.postTask({ description: 'alpha task', posted_by: 'a1', channel: 'alpha' });
      await store.setState({ key: 'shared', value: 'alpha value', channel: 'alpha' });
      // Cross-channel sends are refused with a pointer to the right channel.
      const refusal = await expectCode(store.sendMessage({ from: 'a1', to: 'b1', content: 'x', channel: 'alpha' }), 'UNKNOWN_AGENT');
      expect(refusal.message).toContain("channel 'beta'");

      expect((await store.discoverAgents({ channel: 'beta' })).map((a) => a.id)).toEqual(['b1', 'b2']);
      expect((await store.poll({ agent_id: 'b2', channel: 'beta', timeout_ms: 0 })).messages).toEqual([]);
      expect((await store.history({ channel: 'beta' })).messages).toEqual([]);
      expect(await store.listTasks({ channel: 'beta' })).toEqual([]);
      expect((await store.claimTask({ agent_id: 'b1', channel: 'beta' })).task).toBeNull();
      expect((await store.getState('shared', 'beta')).version).toBe(0);
      const beta = await store.stats('beta');
      expect(beta).toMatchObject({ agents: { total: 2 }, messages: { total: 0 }, state_keys: 0, tasks: { pending: 0 } });
      // The alpha side sees its own.
      expect((await store.poll({ agent_id: 'a2', channel: 'alpha', timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['alpha secret', 'alpha news']);
      // Polling the wrong channel says where the agent is registered.
      const hinted = await store.poll({ agent_id: 'a2', timeout_ms: 0 });
      expect(hinted.hint).toContain("channel 'alpha'");
    });
  });

  describe('events', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('records every registration, message, task change and state change with increasing ids', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      await store.sendMessage({ from: 'a', to: 'b', content: 'hi' });
      await store.broadcast({ from: 'a', content: 'all' });
      const task = await store.postTask({ description: 'x', posted_by: 'a' });
      const { lease } = await store.claimTask({ agent_id: 'b' });
      await store.completeTask({ task_id: task.id, agent_id: 'b', epoch: lease?.epoch });
      await store.setState({ key: 'k', value: 1 });
      await store.createChannel({ name: 'new' });
      await store.deregisterAgent('a');
      const { events, last_id } = await store.events({ after: 0 });
      expect(events.map((e) => e.type)).toEqual([
        'agent_registered',
        'agent_registered',
        'message',
        'broadcast',
        'task_posted',
        'task_claimed',
        'task_completed',
        'state_changed',
        'channel_created',
        'agent_deregistered',
      ]);
      const ids = events.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(ids.length);
      expect(last_id).toBe(ids[ids.length - 1]);
      expect(events[2]).toMatchObject({ channel: 'default', data: { from: 'a', to: 'b', content: 'hi' } });
      expect((await store.events({ after: ids[4] ?? 0 })).events.map((e) => e.type)[0]).toBe('task_claimed');
    });

    it('keeps only max_event_buffer events, and says where the buffer starts', async () => {
      const store = await stores.store({ max_event_buffer: 5 });
      for (let i = 0; i < 12; i++) await store.setState({ key: 'k', value: i });
      const page = await store.events({ after: 0 });
      expect(page.events).toHaveLength(5);
      expect(page.oldest_id).toBe(page.events[0]?.id);
      expect(page.last_id).toBe(12);
      expect(page.events.map((e) => (e.data as { value: number }).value)).toEqual([7, 8, 9, 10, 11]);
    });

    it('waits for the next event, filters by channel, and pages with next_after', async () => {
      const store = await stores.store();
      const waiting = store.events({ after: 0, timeout_ms: 10_000, channel: 'x' });
      await store.setState({ key: 'k', value: 1, channel: 'y' });
      setTimeout(() => void store.setState({ key: 'k', value: 2, channel: 'x' }), 20);
      const page = await waiting;
      // Channel x is created by that write, so its channel_created event comes first.
      expect(page.events.map((e) => [e.channel, e.type])).toEqual([
        ['x', 'channel_created'],
        ['x', 'state_changed'],
      ]);
      const rest = await store.events({ after: page.next_after, channel: 'x' });
      expect(rest.events).toEqual([]);
      expect(rest.next_after).toBe(rest.last_id);
    });
  });

  describe('lifecycle', () => {
    it('answers waiting long-polls and later calls with UNAVAILABLE once closed; close is idempotent', async () => {
      const store = await make();
      await registerAll(store, ['a']);
      // expectCode is attached before close() so the rejections are handled when they happen.
      const polling = expectCode(store.poll({ agent_id: 'a', timeout_ms: 30_000 }), 'UNAVAILABLE');
      const watching = expectCode(store.watchState({ key: 'k', timeout_ms: 30_000 }), 'UNAVAILABLE');
      await new Promise((resolve) => setTimeout(resolve, 20));
      await store.close();
      await polling;
      await watching;
      await expectCode(store.getState('k'), 'UNAVAILABLE');
      await store.close();
    });
  });
}
