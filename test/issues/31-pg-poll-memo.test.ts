import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { openPgStore } from '../../backends/coord/pg-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import { describePg, freshSchema, useTestDatabase } from '../helpers/pg.js';

/*
 * [pg-speed] #31: an agent's poll that starts right after its previous read
 * found the inbox empty (or a send handed it its message), with no write to
 * the inbox heard since, parks without reading again
 * (backends/coord/pg/inbox-memo.ts). The read it skips would find nothing.
 */
describePg('[pg-speed] #31 a poll right after a read that emptied the inbox', () => {
  const database = useTestDatabase('pgmemo');
  const stores: CoordStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it('parks without a read, and still answers the next message sent to it', async () => {
    const schema = freshSchema();
    const store = await openPgStore({ url: database.url, schema, max: 4 });
    stores.push(store);
    for (const agent of ['memo-a', 'memo-b', 'memo-c']) await store.registerAgent({ agent_id: agent, role: 'w' });
    await store.sendMessage({ from: 'memo-a', to: 'memo-b', content: 'one' });
    expect((await store.poll({ agent_id: 'memo-b', timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['one']);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const watcher = new pg.Client({ connectionString: database.url });
    await watcher.connect();
    try {
      // Holds memo-b's inbox lock (coord_poll takes it): a read of memo-b's inbox would wait at the database.
      await admin.query('BEGIN');
      await admin.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${schema} coord inbox default memo-b`]);
      const waiting = store.poll({ agent_id: 'memo-b', timeout_ms: 30_000 });
      // A read of memo-c's inbox, called after: with memo-b's read at the database it would wait behind it (one read at a time).
      const other = store.poll({ agent_id: 'memo-c', timeout_ms: 0 }).then(() => 'memo-c answered' as const);
      let stop = false;
      const readBlocked = (async (): Promise<'memo-b read'> => {
        for (;;) {
          const found = await watcher.query(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%coord_poll%'",
          );
          if (found.rows.length > 0 || stop) return 'memo-b read';
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const first = await Promise.race([other, readBlocked]);
      stop = true;
      await readBlocked;
      expect(first).toBe('memo-c answered');
      await admin.query('COMMIT');
      // The parked poll still gets the next message (handed over by the send, or read when woken).
      await store.sendMessage({ from: 'memo-a', to: 'memo-b', content: 'two' });
      expect((await waiting).messages.map((m) => m.content)).toEqual(['two']);
      // A message sent while no poll is parked touches what was known: the next poll reads it.
      await store.sendMessage({ from: 'memo-a', to: 'memo-b', content: 'three' });
      expect((await store.poll({ agent_id: 'memo-b', timeout_ms: 30_000 })).messages.map((m) => m.content)).toEqual(['three']);
    } finally {
      await admin.query('ROLLBACK').catch(() => undefined);
      await admin.end();
      await watcher.end();
    }
  });
});
