import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';

/*
 * The SQLite store keeps agents, cursors and inbox heads in memory
 * (backends/coord/sqlite/read-cache.ts). A second connection to the same
 * file (another process, which the store allows) must never be answered
 * from a copy it has made stale.
 */

const dir = mkdtempSync(join(tmpdir(), 'coord-read-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const contents = async (store: CoordStore, agent: string): Promise<string[]> =>
  (await store.poll({ agent_id: agent, timeout_ms: 0 })).messages.map((m) => m.content);

describe('sqlite read cache with a second connection on the file', () => {
  it('sees the other connection’s sends, cursor moves, deregistrations and re-registrations', async () => {
    const path = join(dir, 'shared.db');
    const a = openSqliteStore(path);
    const b = openSqliteStore(path);
    try {
      await a.registerAgent({ agent_id: 'tx', role: 'r' });
      await a.registerAgent({ agent_id: 'rx', role: 'r' });
      // A reads (and keeps) rx's row, cursor and inbox head.
      expect(await contents(a, 'rx')).toEqual([]);
      await a.sendMessage({ from: 'tx', to: 'rx', content: 'own' });
      expect(await contents(a, 'rx')).toEqual(['own']);

      // A message committed by B is visible to A's next poll.
      await b.sendMessage({ from: 'tx', to: 'rx', content: 'from b' });
      await new Promise((r) => setImmediate(r)); // a new event-loop turn, as a new request would be
      expect(await contents(a, 'rx')).toEqual(['from b']);

      // B's cursor move is seen by A: nothing is returned twice.
      await a.sendMessage({ from: 'tx', to: 'rx', content: 'once' });
      expect(await contents(b, 'rx')).toEqual(['once']);
      await new Promise((r) => setImmediate(r));
      expect(await contents(a, 'rx')).toEqual([]);

      // An agent B deregistered is unknown to A, and its re-registration elsewhere is seen.
      await b.deregisterAgent('rx');
      await new Promise((r) => setImmediate(r));
      await expect(a.sendMessage({ from: 'tx', to: 'rx', content: 'lost?' })).rejects.toMatchObject({ code: 'UNKNOWN_AGENT' });
      await b.registerAgent({ agent_id: 'rx', role: 'r', channel: 'other' });
      await new Promise((r) => setImmediate(r));
      await expect(a.sendMessage({ from: 'tx', to: 'rx', content: 'wrong channel' })).rejects.toThrow(/registered in channel 'other'/);
      // A sender acts only in its own channel: tx moves too, and a sees that as well.
      await b.registerAgent({ agent_id: 'tx', role: 'r', channel: 'other' });
      await expect(a.sendMessage({ from: 'tx', to: 'rx', content: 'right channel', channel: 'other' })).resolves.toMatchObject({ channel: 'other' });
      expect((await b.poll({ agent_id: 'rx', channel: 'other', timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['right channel']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('inside one turn: a send and a poll queued together, and a poll acknowledging with after', async () => {
    const store = openSqliteStore(join(dir, 'one.db'));
    try {
      await store.registerAgent({ agent_id: 'tx', role: 'r' });
      await store.registerAgent({ agent_id: 'rx', role: 'r' });
      const parked = store.poll({ agent_id: 'rx', timeout_ms: 5_000 });
      // Two sends in one group commit: the first hands its message to the parked poll in its own transaction.
      const [sent] = await Promise.all([
        store.sendMessage({ from: 'tx', to: 'rx', content: 'm1' }),
        store.sendMessage({ from: 'tx', to: 'rx', content: 'm2' }),
      ]);
      const first = await parked;
      expect(first.messages.map((m) => m.content)).toEqual(['m1']);
      expect(first.next_cursor).toBe(sent.id);
      // Acknowledged mode: the page follows `after`, the cursor never moves back.
      const again = await store.poll({ agent_id: 'rx', after: sent.id, timeout_ms: 0 });
      expect(again.messages.map((m) => m.content)).toEqual(['m2']);
      expect(await contents(store, 'rx')).toEqual(['m2']);
      expect(await contents(store, 'rx')).toEqual([]);
      // A later message wakes a parked poll at once (the inbox head moved before the wake-up).
      const waiting = store.poll({ agent_id: 'rx', timeout_ms: 5_000 });
      await new Promise((r) => setTimeout(r, 20));
      await store.sendMessage({ from: 'tx', to: 'rx', content: 'm3' });
      expect((await waiting).messages.map((m) => m.content)).toEqual(['m3']);
    } finally {
      await store.close();
    }
  });

  it('a parked poll whose page cannot be read in the send’s transaction leaves the send alone and loses nothing', async () => {
    const path = join(dir, 'handoff.db');
    const store = openSqliteStore(path);
    const admin = new Database(path);
    try {
      await store.registerAgent({ agent_id: 'tx', role: 'r' });
      await store.registerAgent({ agent_id: 'rx', role: 'r' });
      // Every cursor write fails while the trigger exists: the hand-off's savepoint is rolled back.
      admin.exec(`CREATE TRIGGER refuse_cursor BEFORE INSERT ON cursors BEGIN SELECT RAISE(ABORT, 'cursor writes refused by the test'); END`);
      const parked = store.poll({ agent_id: 'rx', timeout_ms: 5_000 });
      await new Promise((r) => setTimeout(r, 20));
      await expect(store.sendMessage({ from: 'tx', to: 'rx', content: 'kept' })).resolves.toMatchObject({ channel: 'default' });
      // Woken, the poll tries its own read and hits the same refusal.
      await expect(parked).rejects.toThrow(/cursor writes refused/);
      admin.exec('DROP TRIGGER refuse_cursor');
      expect(await contents(store, 'rx')).toEqual(['kept']);
    } finally {
      admin.close();
      await store.close();
    }
  });
});
