import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, type MakeStore, registerAll, StoreSet, TestClock } from '../helpers/coord-store.js';

/** Registration, deregistration, heartbeats, discovery and stale detection. */
export function agentContract(make: MakeStore): void {
  describe('agents', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('registers an agent with the reference fields and defaults', async () => {
      const store = await stores.store();
      const { agent, created, heartbeat_interval } = await store.registerAgent({
        agent_id: 'researcher',
        role: 'research',
        capabilities: ['web-search', 'analysis'],
      });
      expect(created).toBe(true);
      expect(heartbeat_interval).toBe(60);
      expect(agent).toMatchObject({
        id: 'researcher',
        role: 'research',
        capabilities: ['web-search', 'analysis'],
        group: null,
        channel: 'default',
        status: 'active',
        has_webhook: false,
      });
      expect(Date.parse(agent.registered_at)).not.toBeNaN();
    });

    it('re-registering the same id replaces role, capabilities, group and channel but keeps registered_at', async () => {
      const clock = new TestClock();
      const store = await stores.store({}, { now: clock.now });
      const first = await store.registerAgent({ agent_id: 'a', role: 'r1', capabilities: ['x'], group: 'g1' });
      clock.advance(10);
      const again = await store.registerAgent({ agent_id: 'a', role: 'r2', capabilities: ['y', 'z'], channel: 'ops' });
      expect(again.created).toBe(false);
      expect(again.agent).toMatchObject({ role: 'r2', capabilities: ['y', 'z'], group: null, channel: 'ops' });
      expect(again.agent.registered_at).toBe(first.agent.registered_at);
      expect(Date.parse(again.agent.last_heartbeat) - Date.parse(first.agent.last_heartbeat)).toBe(10_000);
      expect(await store.discoverAgents({})).toEqual([]);
      expect((await store.discoverAgents({ channel: 'ops' })).map((a) => a.id)).toEqual(['a']);
    });

    it('refuses malformed ids and channel names with BAD_REQUEST', async () => {
      const store = await stores.store();
      await expectCode(store.registerAgent({ agent_id: '', role: 'r' }), 'BAD_REQUEST');
      await expectCode(store.registerAgent({ agent_id: 'a\nb', role: 'r' }), 'BAD_REQUEST');
      await expectCode(store.registerAgent({ agent_id: 'a', role: 'r', channel: 'no spaces' }), 'BAD_REQUEST');
    });

    it('deregister removes the agent but keeps its pending messages for a later registration', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      await store.sendMessage({ from: 'a', to: 'b', content: 'one' });
      await store.sendMessage({ from: 'a', to: 'b', content: 'two' });
      expect(await store.deregisterAgent('b')).toEqual({ agent_id: 'b', deregistered: true, pending_messages: 2, released_claims: [], returned_tasks: [] });
      expect((await store.discoverAgents({})).map((a) => a.id)).toEqual(['a']);
      await expectCode(store.sendMessage({ from: 'a', to: 'b', content: 'three' }), 'UNKNOWN_AGENT');
      await expectCode(store.poll({ agent_id: 'b', timeout_ms: 0 }), 'UNKNOWN_AGENT');
      expect(await store.deregisterAgent('b')).toMatchObject({ deregistered: false });

      await store.registerAgent({ agent_id: 'b', role: 'back' });
      const { messages } = await store.poll({ agent_id: 'b', timeout_ms: 0 });
      expect(messages.map((m) => m.content)).toEqual(['one', 'two']);
    });

    it('heartbeat refreshes an agent and refuses an unknown one with UNKNOWN_AGENT', async () => {
      const clock = new TestClock();
      const store = await stores.store({}, { now: clock.now });
      await store.registerAgent({ agent_id: 'a', role: 'r' });
      clock.advance(30);
      const agent = await store.heartbeat('a');
      expect(agent.last_heartbeat).toBe(new Date(clock.ms).toISOString());
      const refusal = await expectCode(store.heartbeat('ghost'), 'UNKNOWN_AGENT');
      expect(refusal.message).toContain("'ghost'");
    });

    it('touchAgent counts as activity and passes over an id that is not registered', async () => {
      const clock = new TestClock();
      const store = await stores.store({ stale_threshold: 300 }, { now: clock.now });
      await registerAll(store, ['quiet', 'touched']);
      clock.advance(350);
      await store.touchAgent('touched');
      await store.touchAgent('ghost');
      const all = await store.discoverAgents({ include_stale: true });
      expect(all.map((a) => [a.id, a.status])).toEqual([
        ['quiet', 'stale'],
        ['touched', 'active'],
      ]);
      expect(all.find((a) => a.id === 'touched')?.last_heartbeat).toBe(new Date(clock.ms).toISOString());
      expect(all.map((a) => a.id)).not.toContain('ghost');
    });

    it('discovers by role, group, capability and channel', async () => {
      const store = await stores.store();
      await store.registerAgent({ agent_id: 'r1', role: 'research', capabilities: ['web'], group: 'alpha' });
      await store.registerAgent({ agent_id: 'r2', role: 'research', capabilities: ['pdf'], group: 'beta' });
      await store.registerAgent({ agent_id: 'w1', role: 'writing', capabilities: ['web', 'prose'], group: 'alpha' });
      await store.registerAgent({ agent_id: 'o1', role: 'research', channel: 'ops' });
      const ids = async (q: Parameters<typeof store.discoverAgents>[0]): Promise<string[]> => (await store.discoverAgents(q)).map((a) => a.id);
      expect(await ids({ role: 'research' })).toEqual(['r1', 'r2']);
      expect(await ids({ group: 'alpha' })).toEqual(['r1', 'w1']);
      expect(await ids({ capability: 'web' })).toEqual(['r1', 'w1']);
      expect(await ids({ role: 'research', capability: 'pdf' })).toEqual(['r2']);
      expect(await ids({ channel: 'ops' })).toEqual(['o1']);
      expect(await ids({ role: 'nobody' })).toEqual([]);
    });

    it('reports agents stale after stale_threshold without a call, and hides them unless asked', async () => {
      const clock = new TestClock();
      const store = await stores.store({ stale_threshold: 300 }, { now: clock.now });
      await registerAll(store, ['quiet', 'busy']);
      clock.advance(200);
      await store.heartbeat('busy');
      clock.advance(150); // quiet: 350 s silent, busy: 150 s
      expect((await store.discoverAgents({})).map((a) => a.id)).toEqual(['busy']);
      const all = await store.discoverAgents({ include_stale: true });
      expect(all.map((a) => [a.id, a.status])).toEqual([
        ['busy', 'active'],
        ['quiet', 'stale'],
      ]);
      expect((await store.discoverAgents({ status: 'stale' })).map((a) => a.id)).toEqual(['quiet']);
      // Any call by the agent counts as a sign of life, not only heartbeats.
      await store.poll({ agent_id: 'quiet', timeout_ms: 0 });
      expect((await store.discoverAgents({})).map((a) => a.id)).toEqual(['busy', 'quiet']);
      const stats = await store.stats();
      expect(stats.agents).toEqual({ total: 2, active: 2, stale: 0 });
    });

    it('refuses a private webhook URL unless allow_private_webhooks is set, and non-http schemes always', async () => {
      const strict = await stores.store();
      await expectCode(strict.registerAgent({ agent_id: 'a', role: 'r', webhook_url: 'http://127.0.0.1:9/x' }), 'BAD_REQUEST');
      await expectCode(strict.registerAgent({ agent_id: 'a', role: 'r', webhook_url: 'http://169.254.169.254/latest' }), 'BAD_REQUEST');
      await expectCode(strict.registerAgent({ agent_id: 'a', role: 'r', webhook_url: 'http://localhost:8080/' }), 'BAD_REQUEST');
      await expectCode(strict.registerAgent({ agent_id: 'a', role: 'r', webhook_url: 'http://[::1]:8080/' }), 'BAD_REQUEST');
      await expectCode(strict.registerAgent({ agent_id: 'a', role: 'r', webhook_url: 'ftp://example.com/' }), 'BAD_REQUEST');
      await expectCode(strict.registerAgent({ agent_id: 'a', role: 'r', webhook_url: 'not a url' }), 'BAD_REQUEST');
      const relaxed = await stores.store({ allow_private_webhooks: true });
      const { agent } = await relaxed.registerAgent({ agent_id: 'a', role: 'r', webhook_url: 'http://127.0.0.1:9/x' });
      expect(agent.has_webhook).toBe(true);
      await expectCode(relaxed.registerAgent({ agent_id: 'a', role: 'r', webhook_url: 'file:///etc/passwd' }), 'BAD_REQUEST');
    });
  });
}
