import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { openPgStore } from '../../backends/coord/pg-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import { eventually } from '../helpers/harness.js';
import { describePg, freshSchema, useTestDatabase } from '../helpers/pg.js';

/*
 * [pg-speed] #31: since schema 10 a poll that reaches a gateway while
 * another poll is at the database waits and goes with the next batch
 * (backends/coord/pg/call-group.ts). A poll whose caller leaves during that
 * wait must not go: it would move the cursor over messages nobody receives.
 */
describePg('[pg-speed] #31 a poll whose caller left while it waited for its batch', () => {
  const database = useTestDatabase('pggone');
  const stores: CoordStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it('does not go with the batch: the cursor stays and the next poll gets the message', async () => {
    const schema = freshSchema();
    const store = await openPgStore({ url: database.url, schema, max: 4 });
    stores.push(store);
    for (const agent of ['gone-x', 'gone-y', 'gone-s']) await store.registerAgent({ agent_id: agent, role: 'w' });
    await store.sendMessage({ from: 'gone-s', to: 'gone-y', content: 'kept' });
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      // Holds gone-x's inbox lock (coord_poll takes it), so gone-x's poll stays at the database and gone-y's waits behind it.
      await admin.query('BEGIN');
      await admin.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${schema} coord inbox default gone-x`]);
      const first = store.poll({ agent_id: 'gone-x', timeout_ms: 0 });
      await eventually(async () => {
        // Inside a transaction pg_stat_activity is read once and kept: drop that copy each time.
        await admin.query('SELECT pg_stat_clear_snapshot()');
        const waiting = await admin.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%coord_poll%'",
        );
        return waiting.rows.length > 0;
      });
      const gone = new AbortController();
      const second = store.poll({ agent_id: 'gone-y', timeout_ms: 0, signal: gone.signal });
      // Its read is queued behind the first (a few ticks of this process, no I/O); its caller then leaves.
      await new Promise((resolve) => setImmediate(resolve));
      gone.abort();
      await admin.query('COMMIT');
      expect((await first).messages).toEqual([]);
      expect((await second).messages).toEqual([]);
      const next = await store.poll({ agent_id: 'gone-y', timeout_ms: 0 });
      expect(next.messages.map((m) => m.content)).toEqual(['kept']);
    } finally {
      await admin.end();
    }
  });
});
