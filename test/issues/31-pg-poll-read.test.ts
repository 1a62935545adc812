import pg from 'pg';
import { afterAll, expect, it, vi } from 'vitest';
import { MIGRATIONS } from '../../backends/coord/migrations.js';
import { openStoreAt } from '../../backends/coord/open-store.js';
import { postgresSteps } from '../../backends/coord/pg-store.js';
import { migratePostgres } from '../../kit/pg-migrate.js';
import { openPgPool } from '../../kit/pg-pool.js';
import { requestOk, startGateway, stopAll } from '../helpers/harness.js';
import { createTestDatabase, describePg, pgCoordinationToml, useTestDatabase, withPgGateway } from '../helpers/pg.js';

afterAll(stopAll);

/** Rows of messages this session's open transaction has read so far (pg_stat_xact_user_tables: counts not yet reported). */
async function messageRowsRead(client: pg.Client): Promise<number> {
  const found = await client.query("SELECT seq_tup_read + idx_tup_fetch AS n FROM pg_stat_xact_user_tables WHERE relname = 'messages'");
  return Number(found.rows[0]?.n ?? 0);
}

/** `count` direct messages from `from` to `to`, written by the store's own batch function, 500 to a call. */
async function sendMany(client: pg.Client, from: string, to: string, count: number): Promise<void> {
  for (let done = 0; done < count; done += 500) {
    const n = Math.min(500, count - done);
    const each = <T>(value: T): T[] => Array.from({ length: n }, () => value);
    await client.query('SELECT count(*) FROM coord_send_batch($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
      each('default'),
      each(from),
      each(to),
      each('filler'),
      each(Date.now()),
      each(null),
      10_000,
      each(null),
      each(false),
    ]);
  }
}

describePg("[pg-speed] #31 a poll reads only its page's messages; inbox rows lock no message (schema 12)", () => {
  const database = useTestDatabase('pgread');

  it("reads the page's messages and no others, with the plan PostgreSQL keeps for any parameters", async () => {
    await withPgGateway(database.url, async (gw, client) => {
      for (const agent of ['pr-s', 'pr-a', 'pr-b']) await requestOk(gw, 'POST', '/coord/agent/register', { agent_id: agent, role: 'w' });
      await sendMany(client, 'pr-s', 'pr-b', 3_000);
      // The statistics autovacuum gathers after such a fill (the plans below depend on them).
      await client.query('ANALYZE inbox, messages');
      const sent = await requestOk(gw, 'POST', '/coord/msg/send', { from: 'pr-s', to: 'pr-a', content: 'the one' });
      // PL/pgSQL keeps a plan for any parameters once PostgreSQL judges it no dearer than planning each call (when depends on
      // the table's statistics); forcing that plan here makes the test not wait for it. Before: a merge join that read
      // messages from the first id, 3,001 rows for a page of one.
      const reads: number[] = [];
      await client.query('BEGIN; SET LOCAL plan_cache_mode = force_generic_plan');
      try {
        for (let i = 0; i < 3; i++) {
          const before = await messageRowsRead(client);
          const page = await client.query("SELECT page FROM coord_poll('pr-a', 'default', 0, 10, $1)", [Date.now()]);
          reads.push((await messageRowsRead(client)) - before);
          expect((page.rows[0]?.page as { id: number; content: string }[] | undefined)?.map((m) => [m.id, m.content])).toEqual([[sent.body.id, 'the one']]);
        }
      } finally {
        await client.query('ROLLBACK');
      }
      expect(reads).toEqual([1, 1, 1]);
    });
  });

  it('writes a sent message once: its inbox row takes no lock on it (no foreign key)', async () => {
    await withPgGateway(database.url, async (gw, client) => {
      for (const agent of ['pk-s', 'pk-a']) await requestOk(gw, 'POST', '/coord/agent/register', { agent_id: agent, role: 'w' });
      const sent = await requestOk(gw, 'POST', '/coord/msg/send', { from: 'pk-s', to: 'pk-a', content: 'locked?' });
      // Before: the key's trigger locked the new row FOR KEY SHARE, which wrote the sending transaction into its xmax.
      const row = await client.query('SELECT xmax::text AS xmax FROM messages WHERE id = $1', [sent.body.id]);
      expect(row.rows[0]?.xmax).toBe('0');
      const keys = await client.query("SELECT conname FROM pg_constraint WHERE conrelid = 'inbox'::regclass AND contype = 'f'");
      expect(keys.rows).toEqual([]);
      const polled = await requestOk(gw, 'GET', '/coord/msg/poll?agent_id=pk-a&timeout=0');
      expect((polled.body.messages as { content: string }[]).map((m) => m.content)).toEqual(['locked?']);
    });
  });

  it('brings a schema-11 database to step 12 with its messages, which polls then deliver once', async () => {
    const old = await createTestDatabase('pgread11');
    const pool = new pg.Pool({ connectionString: old.url, max: 1 });
    try {
      await migratePostgres(pool, 'coord_schema_version', postgresSteps(MIGRATIONS.slice(0, 11)), 'coordination');
      const at = Date.now();
      await pool.query(
        "INSERT INTO agents (id, role, capabilities, channel, registered_at, last_heartbeat) VALUES ('pm-s', 'w', '[]', 'default', $1, $1), ('pm-a', 'w', '[]', 'default', $1, $1)",
        [at],
      );
      await pool.query("INSERT INTO channels (name, created_at) VALUES ('default', $1) ON CONFLICT DO NOTHING", [at]);
      for (const content of ['first', 'second']) {
        await pool.query("SELECT * FROM coord_send('default', 'pm-s', 'pm-a', $1, $2, NULL, 100, NULL, FALSE)", [content, at]);
      }
      const gw = await startGateway(pgCoordinationToml(old.url));
      try {
        const version = await pool.query('SELECT max(version) AS v FROM coord_schema_version');
        expect(version.rows[0]?.v).toBe(12);
        const first = await requestOk(gw, 'GET', '/coord/msg/poll?agent_id=pm-a&timeout=0&limit=1');
        const rest = await requestOk(gw, 'GET', '/coord/msg/poll?agent_id=pm-a&timeout=0');
        const again = await requestOk(gw, 'GET', '/coord/msg/poll?agent_id=pm-a&timeout=0');
        expect([first, rest, again].map((p) => (p.body.messages as { content: string }[]).map((m) => m.content))).toEqual([['first'], ['second'], []]);
      } finally {
        await gw.stop();
      }
    } finally {
      await pool.end();
      await old.drop();
    }
  });
});

describePg('[pg-speed] #31 a pool keeps its idle connections without a timer per release', () => {
  const database = useTestDatabase('pgidle');

  it('holds a released connection open however long it idles', async () => {
    const pool = await openPgPool({ url: database.url, max: 2 });
    try {
      const client = await pool.connect();
      await client.query('SELECT 1');
      // Before: the release armed pg-pool's 10 s idle timer (cleared again at the next acquire), which then closed it.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        client.release();
        expect(vi.getTimerCount()).toBe(0);
        vi.advanceTimersByTime(3_600_000);
      } finally {
        vi.useRealTimers();
      }
      expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
      expect((await pool.query('SELECT 2 AS n')).rows[0]?.n).toBe(2);
    } finally {
      await pool.end();
    }
  });
});

describePg('[pg-speed] #31 retention deletes what is due and its inbox rows in one statement (schema 12: no foreign key)', () => {
  const database = useTestDatabase('pgprune');

  it('keeps a fresh message that committed with a lower id while a pass waited for the write lock', async () => {
    const store = await openStoreAt({ db: database.url, setting: 'test' }, { message_retention: 60 });
    const [sender, late, holder] = [new pg.Client(database.url), new pg.Client(database.url), new pg.Client(database.url)];
    for (const c of [sender, late, holder]) await c.connect();
    try {
      const now = Date.now();
      const old = now - 3_600_000;
      await sender.query(
        "INSERT INTO agents (id, role, capabilities, channel, registered_at, last_heartbeat) VALUES ('rt-s', 'w', '[]', 'default', $1, $1), ('rt-a', 'w', '[]', 'default', $1, $1), ('rt-b', 'w', '[]', 'default', $1, $1)",
        [now],
      );
      const send = (c: pg.Client, to: string, content: string, at: number) =>
        c.query("SELECT message_id FROM coord_send('default', 'rt-s', $1, $2, $3, NULL, 100, NULL, FALSE)", [to, content, at]);
      await send(sender, 'rt-a', 'old 1', old);
      await late.query('BEGIN');
      await send(late, 'rt-a', 'fresh', now); // its id is taken now; it commits after the pass has read what is due
      await send(sender, 'rt-b', 'old 3', old); // another inbox: the open send holds rt-a's writer lock
      // The store's write lock, held so that the pass reads the head (old 1, old 3) and then waits.
      await holder.query("BEGIN; SELECT pg_advisory_xact_lock(hashtext(current_schema() || ' coord writes'))");
      const pass = store.prune();
      const waiting = async (): Promise<boolean> =>
        Number((await sender.query("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rows[0]?.n) > 0;
      for (let i = 0; i < 500 && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 10));
      expect(await waiting()).toBe(true);
      await late.query('COMMIT');
      await holder.query('COMMIT');
      await pass;
      // Before: every id up to old 3's went, the fresh message with them.
      const left = await sender.query('SELECT content FROM messages ORDER BY id');
      expect(left.rows.map((r) => r.content)).toEqual(['fresh']);
      const orphans = await sender.query('SELECT count(*) AS n FROM inbox i WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = i.message_id)');
      expect(Number(orphans.rows[0]?.n)).toBe(0);
      expect(Number((await sender.query('SELECT count(*) AS n FROM inbox')).rows[0]?.n)).toBe(1);
    } finally {
      for (const c of [sender, late, holder]) await c.end();
      await store.close();
    }
  });
});
