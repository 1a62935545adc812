import { afterEach, describe, expect, it } from 'vitest';
import { groupCounts, waitForPeers } from '../../backends/coord/agent-state.js';
import { coordOptions } from '../../backends/coord/options.js';
import { expectCode, type MakeStore, registerAll, StoreSet } from '../helpers/coord-store.js';

/** Agent states (issue #29 item 2): setting them, waiting for peers to reach one, group counts — the same on every engine. */
export function agentStateContract(make: MakeStore): void {
  describe('agent states', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());
    const options = coordOptions();
    const never = new AbortController().signal;

    it('an agent is idle until it says otherwise; its state, waiting_for, file and thread show in discovery and survive re-registering', async () => {
      const store = await stores.store();
      await registerAll(store, ['ann', 'bob']);
      expect((await store.discoverAgents({})).map((a) => a.state)).toEqual(['idle', 'idle']);
      const { state, waiting_for, current_file, current_thread, state_since } = await store.setAgentState({
        agent_id: 'ann',
        state: 'waiting',
        waiting_for: 'bob to finish the schema',
        current_file: 'src/db/schema.ts',
        current_thread: 't-1',
      });
      expect({ state, waiting_for, current_file, current_thread }).toEqual({
        state: 'waiting',
        waiting_for: 'bob to finish the schema',
        current_file: 'src/db/schema.ts',
        current_thread: 't-1',
      });
      expect(state_since).not.toBeNull();
      await store.registerAgent({ agent_id: 'ann', role: 'worker' });
      expect((await store.discoverAgents({})).find((a) => a.id === 'ann')).toMatchObject({ state: 'waiting', current_file: 'src/db/schema.ts' });
      // working waits for nothing: waiting_for is dropped; null clears the file.
      const working = await store.setAgentState({ agent_id: 'ann', state: 'working', waiting_for: 'x', current_file: null });
      expect(working).toMatchObject({ state: 'working', waiting_for: null, current_file: null, current_thread: null });
      const events = await store.events({ after: 0, limit: 100 });
      expect(events.events.filter((e) => e.type === 'agent_state').map((e) => e.data.state)).toEqual(['waiting', 'working']);
      await expectCode(store.setAgentState({ agent_id: 'nobody', state: 'idle' }), 'UNKNOWN_AGENT');
    });

    it('waiting for peers returns once every named peer is in the state, woken by the change (no polling)', async () => {
      const store = await stores.store();
      await registerAll(store, ['lead', 'w1', 'w2']);
      await store.setAgentState({ agent_id: 'w1', state: 'working' });
      await store.setAgentState({ agent_id: 'w2', state: 'working' });
      const waiting = waitForPeers(store, { agent_id: 'lead', agents: ['w1', 'w2'], state: 'idle' }, 60_000, options, never);
      let done = false;
      void waiting.then(() => {
        done = true;
      });
      await store.setAgentState({ agent_id: 'w1', state: 'idle' });
      // One of two: still waiting (checked after an event round trip that the wait also sees).
      await store.events({ after: 0, limit: 1 });
      expect(done).toBe(false);
      await store.setAgentState({ agent_id: 'w2', state: 'idle' });
      const result = await waiting;
      expect(result).toMatchObject({ reached: true, state: 'idle', pending: [] });
      expect(result.peers.map((p) => p.id)).toEqual(['w1', 'w2']);
    });

    it('at the timeout it answers reached: false naming the peers not there (an unregistered one too)', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      await store.setAgentState({ agent_id: 'b', state: 'blocked', waiting_for: 'CI' });
      const result = await waitForPeers(store, { agents: ['a', 'b', 'ghost'], state: 'idle' }, 0, options, never);
      expect(result).toMatchObject({ reached: false, pending: ['b', 'ghost'] });
      expect(result.peers.find((p) => p.id === 'b')).toMatchObject({ state: 'blocked', waiting_for: 'CI' });
    });

    it('a group wait leaves the caller out; groups are listed with counts by state', async () => {
      const store = await stores.store();
      await registerAll(store, ['g1', 'g2', 'g3'], { group: 'backend' });
      await registerAll(store, ['solo']);
      await store.setAgentState({ agent_id: 'g1', state: 'working' });
      const waiting = waitForPeers(store, { agent_id: 'g1', group: 'backend', state: 'waiting' }, 60_000, options, never);
      await store.setAgentState({ agent_id: 'g2', state: 'waiting', waiting_for: 'g1' });
      await store.setAgentState({ agent_id: 'g3', state: 'waiting', waiting_for: 'g1' });
      expect(await waiting).toMatchObject({ reached: true, pending: [] });
      expect(await groupCounts(store, {})).toEqual({
        channel: 'default',
        groups: [
          { group: 'backend', agents: 3, states: { working: 1, idle: 0, waiting: 2, blocked: 0 }, members: ['g1', 'g2', 'g3'] },
          { group: null, agents: 1, states: { working: 0, idle: 1, waiting: 0, blocked: 0 }, members: ['solo'] },
        ],
      });
    });
  });
}

/** Broadcast priority (issue #29 item 2): stored with the message, shown on poll, history, the event and the answer. */
export function broadcastPriorityContract(make: MakeStore): void {
  describe('broadcast priority', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('a broadcast carries its priority (normal when not given); direct messages carry none', async () => {
      const store = await stores.store();
      await registerAll(store, ['lead', 'dev']);
      expect(await store.broadcast({ from: 'lead', content: 'stop merging', priority: 'urgent' })).toMatchObject({ priority: 'urgent', recipients: ['dev'] });
      expect(await store.broadcast({ from: 'lead', content: 'lunch' })).toMatchObject({ priority: 'normal' });
      await store.sendMessage({ from: 'lead', to: 'dev', content: 'hi' });
      const { messages } = await store.poll({ agent_id: 'dev', timeout_ms: 0 });
      expect(messages.map((m) => [m.content, m.priority])).toEqual([
        ['stop merging', 'urgent'],
        ['lunch', 'normal'],
        ['hi', undefined],
      ]);
      expect((await store.history({ channel: 'default' })).messages.find((m) => m.content === 'stop merging')?.priority).toBe('urgent');
      const events = (await store.events({ after: 0, limit: 100 })).events.filter((e) => e.type === 'broadcast');
      expect(events.map((e) => e.data.priority)).toEqual(['urgent', 'normal']);
    });
  });
}
