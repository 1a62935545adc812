import { afterEach, describe, expect, it } from 'vitest';
import { readBoard } from '../../backends/coord/board.js';
import { coordOptions } from '../../backends/coord/options.js';
import { type MakeStore, registerAll, StoreSet } from '../helpers/coord-store.js';

/** The dashboard's board (issue #29 item 4): the same read on every engine. */
export function boardContract(make: MakeStore): void {
  describe('dashboard board', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());
    const options = coordOptions();

    it("reads every channel's agents, threads with their claims' scores per layer, claims and messages; a viewer sees only its threads", async () => {
      const store = await stores.store();
      await registerAll(store, ['ann', 'bob', 'cat'], { channel: 'c1' });
      await registerAll(store, ['dan'], { channel: 'c2' });
      await store.setAgentState({ agent_id: 'ann', state: 'working', current_file: 'src/auth/a.ts' });
      await store.announceClaim({ agent_id: 'ann', paths: ['src/auth/a.ts'], intent: 'a', channel: 'c1' });
      const b = await store.announceClaim({ agent_id: 'bob', paths: ['src/auth/a.ts'], depends_on: ['src/db/s.ts'], intent: 'b', channel: 'c1' });
      const threadId = b.thread?.id;
      expect(threadId).toBeDefined();
      await store.sendMessage({ from: 'ann', to: 'cat', content: 'hello cat', channel: 'c1' });
      const { last_id } = await store.events({ after: 0, limit: 1000 });

      const board = await readBoard(store, options, {}, undefined);
      expect(board.viewer).toBeNull();
      expect(board.last_event_id).toBe(last_id);
      expect(board.channels.map((c) => c.name)).toEqual(expect.arrayContaining(['c1', 'c2']));
      const c1 = board.channels.find((c) => c.name === 'c1');
      expect(c1?.agents.find((a) => a.id === 'ann')).toMatchObject({ state: 'working', current_file: 'src/auth/a.ts' });
      expect(c1?.claims).toHaveLength(2);
      expect(c1?.threads.map((t) => t.id)).toEqual([threadId]);
      const scores = c1?.threads[0]?.scores ?? [];
      expect(scores.map((s) => [s.by_agent_id, s.agent_id, s.score, s.layer, s.stale])).toEqual([['bob', 'ann', 100, 'same_file', false]]);
      expect(scores[0]?.breakdown.map((l) => l.layer)).toEqual(['same_file', 'recent_edit', 'module']);
      // Thread notices are left out of the messages; the direct message is there.
      expect(c1?.messages.map((m) => m.content)).toEqual(['hello cat']);

      // As cat: no thread of hers, and only her messages; one channel with ?channel.
      const asCat = await readBoard(store, options, { channel: 'c1' }, 'cat');
      expect(asCat.channels.map((c) => c.name)).toEqual(['c1']);
      expect(asCat.channels[0]?.threads).toEqual([]);
      expect(asCat.channels[0]?.messages.map((m) => m.content)).toEqual(['hello cat']);
      const asAnn = await readBoard(store, options, { channel: 'c1' }, 'ann');
      expect(asAnn.channels[0]?.threads.map((t) => t.id)).toEqual([threadId]);
      expect(asAnn.channels[0]?.messages.map((m) => m.content)).toEqual(['hello cat']);
      const asDan = await readBoard(store, options, { channel: 'c1' }, 'dan');
      expect(asDan.channels[0]?.messages).toEqual([]); // dan is in c2

      // A closed thread leaves the board; a released claim leaves the scores empty.
      await store.releaseClaim({ claim_id: b.claim.id, agent_id: 'bob' });
      const released = await readBoard(store, options, { channel: 'c1' }, undefined);
      expect(released.channels[0]?.threads[0]?.scores).toEqual([]);
      await store.actOnThread({ thread_id: threadId ?? '', agent_id: 'bob', action: 'close' });
      expect((await readBoard(store, options, { channel: 'c1' }, undefined)).channels[0]?.threads).toEqual([]);
    });
  });
}
