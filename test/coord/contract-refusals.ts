import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, type MakeStore, StoreSet } from '../helpers/coord-store.js';

/** Refusals name what to blame: the input field (#21 item 2) and the [coordination] limit of one request (#21 item 10). */
export function refusalContract(make: MakeStore): void {
  describe('refusals: the field to blame and the limits of one request', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('refuses a request over a lowered limit with PAYLOAD_TOO_LARGE, {field, size, limit} and the key in the sentence', async () => {
      const store = await stores.store({ max_intent_length: 5, max_list_entries: 2, max_path_length: 8, max_capabilities: 1, max_message_size: 10 });
      const refusals = [
        [await expectCode(store.announceClaim({ agent_id: 'a', paths: ['a.ts'], intent: '123456' }), 'PAYLOAD_TOO_LARGE'), 'intent', 6, 5, 'max_intent_length'],
        [await expectCode(store.checkClaims({ paths: ['a', 'b', 'c'] }), 'PAYLOAD_TOO_LARGE'), 'paths', 3, 2, 'max_list_entries'],
        [await expectCode(store.checkClaims({ paths: ['a'], depends_on: ['src/long.ts'] }), 'PAYLOAD_TOO_LARGE'), 'depends_on', 11, 8, 'max_path_length'],
        [
          await expectCode(store.registerAgent({ agent_id: 'c', role: 'r', capabilities: ['x', 'y'] }), 'PAYLOAD_TOO_LARGE'),
          'capabilities',
          2,
          1,
          'max_capabilities',
        ],
        [
          await expectCode(store.openThread({ agent_id: 'a', participants: ['b', 'c', 'd'], subject: 's' }), 'PAYLOAD_TOO_LARGE'),
          'participants',
          3,
          2,
          'max_list_entries',
        ],
        [
          await expectCode(store.openThread({ agent_id: 'a', participants: ['b'], subject: 'long subject' }), 'PAYLOAD_TOO_LARGE'),
          'subject',
          12,
          5,
          'max_intent_length',
        ],
      ] as const;
      for (const [refusal, field, size, limit, key] of refusals) {
        expect(refusal.details).toEqual({ field, size, limit });
        expect(refusal.field).toBe(field);
        expect(refusal.message).toContain(`the limit is ${limit}`);
        expect(refusal.message).toContain(`(${key})`);
      }
    });

    it('holds a thread message to max_message_size (bytes), not to a fixed 8,000 characters', async () => {
      const small = await stores.store({ max_message_size: 10 });
      await small.registerAgent({ agent_id: 'a', role: 'r' });
      await small.registerAgent({ agent_id: 'b', role: 'r' });
      const thread = await small.openThread({ agent_id: 'a', participants: ['b'], subject: 's' });
      const refusal = await expectCode(small.actOnThread({ thread_id: thread.id, agent_id: 'a', action: 'post', content: 'ééééé é' }), 'PAYLOAD_TOO_LARGE');
      expect(refusal.details).toEqual({ field: 'content', size: 13, limit: 10 });
      expect(refusal.message).toContain('(max_message_size)');
      const roomy = await stores.store();
      await roomy.registerAgent({ agent_id: 'a', role: 'r' });
      await roomy.registerAgent({ agent_id: 'b', role: 'r' });
      const open = await roomy.openThread({ agent_id: 'a', participants: ['b'], subject: 's' });
      await roomy.actOnThread({ thread_id: open.id, agent_id: 'a', action: 'post', content: 'x'.repeat(9_000) });
    });

    it('takes what a raised limit allows', async () => {
      const store = await stores.store({ max_intent_length: 9_000, max_list_entries: 300, max_path_length: 1_000 });
      const paths = Array.from({ length: 300 }, (_, i) => `src/f${i}.ts`);
      const announced = await store.announceClaim({ agent_id: 'a', paths, intent: 'i'.repeat(9_000) });
      expect(announced.claim.paths).toHaveLength(300);
      expect((await store.checkClaims({ paths: [`lib/${'d'.repeat(600)}.ts`] })).conflicts).toEqual([]);
    });

    it('names the one field a store rule refuses', async () => {
      const store = await stores.store();
      await store.registerAgent({ agent_id: 'a', role: 'r' });
      const cases = [
        [await expectCode(store.createChannel({ name: 'no spaces' }), 'BAD_REQUEST'), 'name'],
        [await expectCode(store.sendMessage({ from: 'a', to: 'a', content: 'x', channel: 'no spaces' }), 'BAD_REQUEST'), 'channel'],
        [await expectCode(store.sendMessage({ from: 'a', to: 'a', content: '' }), 'BAD_REQUEST'), 'content'],
        [await expectCode(store.registerAgent({ agent_id: 'b', role: 'r', capabilities: [' x'] }), 'BAD_REQUEST'), 'capabilities'],
        [await expectCode(store.announceClaim({ agent_id: 'a', paths: ['a.ts'], intent: ' ' }), 'BAD_REQUEST'), 'intent'],
        [await expectCode(store.announceClaim({ agent_id: 'a', paths: [], intent: 'x' }), 'BAD_REQUEST'), 'paths'],
      ] as const;
      const small = await stores.store({ max_value_size: 20 });
      const over = [
        [await expectCode(small.setState({ key: 'k', value: 'x'.repeat(50) }), 'PAYLOAD_TOO_LARGE'), 'value'],
        [await expectCode(small.postTask({ description: 'd'.repeat(21), posted_by: 'a' }), 'PAYLOAD_TOO_LARGE'), 'description'],
        [await expectCode(small.postTask({ description: 'd', posted_by: 'a', metadata: { long: 'x'.repeat(30) } }), 'PAYLOAD_TOO_LARGE'), 'metadata'],
      ] as const;
      for (const [refusal, field] of over) expect(refusal.details).toMatchObject({ field, limit: 20 });
      for (const [refusal, field] of cases) expect({ message: refusal.message, field: refusal.field }).toEqual({ message: refusal.message, field });
    });
  });
}
