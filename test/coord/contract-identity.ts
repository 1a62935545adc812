import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, type MakeStore, registerAll, StoreSet } from '../helpers/coord-store.js';

/** Names (NFC, no hidden characters), channel isolation of who acts, and no empty name read as none ([coord-2] item 9). */
export function identityContract(make: MakeStore): void {
  describe('identity and isolation', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('refuses control, zero-width, bidi and BOM characters in agent ids wherever one is taken, naming the code point', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      for (const [char, point] of [
        ['\u200b', 'U+200B'],
        ['\u200d', 'U+200D'],
        ['\u202e', 'U+202E'],
        ['\u2067', 'U+2067'],
        ['\ufeff', 'U+FEFF'],
        ['\u00ad', 'U+00AD'],
        ['\u0000', 'U+0000'],
        ['\u009b', 'U+009B'],
        ['\u2028', 'U+2028'],
      ] as const) {
        const refusal = await expectCode(store.registerAgent({ agent_id: `agent${char}`, role: 'r' }), 'BAD_REQUEST');
        expect(refusal.message).toBe(`agent_id contains ${point}, an invisible control, format or text-direction character; use 1 to 128 visible characters.`);
      }
      await expectCode(store.sendMessage({ from: 'a\u200b', to: 'b', content: 'x' }), 'BAD_REQUEST');
      await expectCode(store.sendMessage({ from: 'a', to: 'b\u202e', content: 'x' }), 'BAD_REQUEST');
      await expectCode(store.broadcast({ from: 'a\u2066', content: 'x' }), 'BAD_REQUEST');
      await expectCode(store.postTask({ description: 'x', posted_by: 'a\u200c' }), 'BAD_REQUEST');
      await expectCode(store.setState({ key: 'k', value: 1, updated_by: 'a\u200b' }), 'BAD_REQUEST');
      await expectCode(store.createChannel({ name: 'room', created_by: 'a\u200b' }), 'BAD_REQUEST');
      await expectCode(store.history({ agent_id: 'a', with_agent: 'b\u200b' }), 'BAD_REQUEST');
      // The other names follow the same rule.
      await expectCode(store.registerAgent({ agent_id: 'c', role: 'r\u202e' }), 'BAD_REQUEST');
      await expectCode(store.setState({ key: 'k\u200b', value: 1 }), 'BAD_REQUEST');
      expect((await store.discoverAgents({})).map((agent) => agent.id)).toEqual(['a', 'b']);
    });

    it('normalizes names to NFC: two spellings of one name are one agent, one key, one capability', async () => {
      const store = await stores.store();
      const registered = await store.registerAgent({ agent_id: 'jose\u0301', role: 'r\u00e9', capabilities: ['cafe\u0301'] });
      expect(registered.agent).toMatchObject({ id: 'jos\u00e9', role: 'r\u00e9', capabilities: ['caf\u00e9'] });
      expect((await store.registerAgent({ agent_id: 'jos\u00e9', role: 'r' })).created).toBe(false);
      await store.registerAgent({ agent_id: 'jos\u00e9', role: 'r', capabilities: ['caf\u00e9'] });
      await store.sendMessage({ from: 'jos\u00e9', to: 'jose\u0301', content: 'to myself' });
      expect((await store.poll({ agent_id: 'jose\u0301', timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['to myself']);
      await store.setState({ key: 'cle\u0301', value: 1 });
      expect((await store.getState('cl\u00e9')).version).toBe(1);
      expect((await store.discoverAgents({ capability: 'cafe\u0301' })).map((agent) => agent.id)).toEqual(['jos\u00e9']);
      const task = await store.postTask({ description: 'x', posted_by: 'jose\u0301', required_capability: 'cafe\u0301' });
      expect(task).toMatchObject({ posted_by: 'jos\u00e9', required_capability: 'caf\u00e9' });
      expect((await store.claimTask({ agent_id: 'jose\u0301' })).task?.id).toBe(task.id);
      expect((await store.listTasks({ claimed_by: 'jose\u0301' })).map((t) => t.id)).toEqual([task.id]);
    });

    it('lets an agent send, broadcast and post only in its own channel', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'a2'], { channel: 'alpha' });
      await registerAll(store, ['b'], { channel: 'beta' });
      const send = await expectCode(store.sendMessage({ from: 'a', to: 'b', content: 'across', channel: 'beta' }), 'UNKNOWN_AGENT');
      expect(send.message).toBe("Sender 'a' is registered in channel 'alpha', not 'beta'; send with channel 'alpha' or re-register in 'beta'.");
      expect(send.details).toEqual({ agent_id: 'a', channel: 'alpha' });
      const broadcast = await expectCode(store.broadcast({ from: 'a', content: 'across', channel: 'beta' }), 'UNKNOWN_AGENT');
      expect(broadcast.message).toContain("broadcast with channel 'alpha'");
      const post = await expectCode(store.postTask({ description: 'across', posted_by: 'a', channel: 'beta' }), 'UNKNOWN_AGENT');
      expect(post.message).toContain("post with channel 'alpha'");
      expect((await store.poll({ agent_id: 'b', channel: 'beta', timeout_ms: 0 })).messages).toEqual([]);
      expect(await store.listTasks({ channel: 'beta' })).toEqual([]);
      // In its own channel all three work.
      await store.sendMessage({ from: 'a', to: 'a2', content: 'home', channel: 'alpha' });
      expect((await store.broadcast({ from: 'a', content: 'home', channel: 'alpha' })).recipients).toEqual(['a2']);
      await store.postTask({ description: 'home', posted_by: 'a', channel: 'alpha' });
    });

    it('refuses a task posted by an unregistered agent', async () => {
      const store = await stores.store();
      const refusal = await expectCode(store.postTask({ description: 'x', posted_by: 'ghost' }), 'UNKNOWN_AGENT');
      expect(refusal.message).toBe("Poster 'ghost' is not registered; register it first (mux_register or POST /coord/agent/register).");
      expect(await store.listTasks({})).toEqual([]);
    });

    it('refuses an empty optional name or channel instead of reading it as none or the default', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b'], { group: 'g' });
      const capability = await expectCode(store.postTask({ description: 'x', posted_by: 'a', required_capability: '' }), 'BAD_REQUEST');
      expect(capability.message).toMatch(/^required_capability is empty; omit it \(or pass null\) for a task any agent may claim/);
      await expectCode(store.broadcast({ from: 'a', content: 'x', group: '' }), 'BAD_REQUEST');
      await expectCode(store.registerAgent({ agent_id: 'c', role: 'r', group: '' }), 'BAD_REQUEST');
      await expectCode(store.setState({ key: 'k', value: 1, updated_by: '' }), 'BAD_REQUEST');
      await expectCode(store.createChannel({ name: 'room', created_by: '' }), 'BAD_REQUEST');
      const unnamed = await expectCode(store.createChannel({ name: '' }), 'BAD_REQUEST');
      expect(unnamed.message).toBe('Channel name is empty; name the channel (1 to 64 characters from A-Z a-z 0-9 . _ : -).');
      const empty = await expectCode(store.sendMessage({ from: 'a', to: 'b', content: 'x', channel: '' }), 'BAD_REQUEST');
      expect(empty.message).toMatch(/^Channel name is empty; omit channel for 'default'/);
      await expectCode(store.listTasks({ channel: '' }), 'BAD_REQUEST');
      expect(await store.listTasks({})).toEqual([]);
      // null and a left-out field still mean none.
      expect((await store.postTask({ description: 'x', posted_by: 'a', required_capability: null })).required_capability).toBeNull();
      expect((await store.broadcast({ from: 'a', content: 'x' })).recipients).toEqual(['b']);
    });

    it('keeps a __proto__ key of task metadata and of a state value as an ordinary key', async () => {
      const store = await stores.store();
      await registerAll(store, ['a']);
      const metadata = JSON.parse('{"__proto__": {"polluted": true}, "k": 1}') as Record<string, unknown>;
      const task = await store.postTask({ description: 'x', posted_by: 'a', metadata });
      const read = (await store.getTask(task.id)).metadata;
      expect(Object.keys(read)).toEqual(['__proto__', 'k']);
      expect(Object.getOwnPropertyDescriptor(read, '__proto__')?.value).toEqual({ polluted: true });
      await store.setState({ key: 'v', value: metadata });
      expect(JSON.stringify((await store.getState('v')).value)).toBe('{"__proto__":{"polluted":true},"k":1}');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });
}
