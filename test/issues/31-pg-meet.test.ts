import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { requestOk, startGateway, stopAll } from '../helpers/harness.js';
import { describePg, pgCoordinationToml, useTestDatabase } from '../helpers/pg.js';

afterAll(stopAll);

const N = 12;
const recipients = Array.from({ length: N }, (_, i) => `mt-r${i}`);

describePg('[pg-speed] #31 sends and polls that meet at a gateway commit in one transaction (schema 11)', () => {
  const database = useTestDatabase('pgmeet');

  it('commits a poll with the sends it meets; every message arrives once, in order', async () => {
    const gw = await startGateway(pgCoordinationToml(database.url));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      for (const agent of ['mt-s', ...recipients]) await requestOk(gw, 'POST', '/coord/agent/register', { agent_id: agent, role: 'w' });
      // Each recipient acknowledges by `after` what it got last: such a poll writes its cursor in its own transaction and a
      // send never writes it (a hand-off moves only a cursor a poll reads on). So a cursor row that shares its transaction
      // with a message row was written by a poll that committed with sends. Whether calls meet is up to the machine: up
      // to ten rounds of N sends and N polls at once, each checked in full; at least one must have met.
      const got = new Map<string, string[]>(recipients.map((r) => [r, []]));
      const last = new Map<string, number>();
      let met = false;
      let round = 0;
      for (; round < 10 && !met; round++) {
        const r0 = round;
        const [, polls] = await Promise.all([
          Promise.all(recipients.map((to) => requestOk(gw, 'POST', '/coord/msg/send', { from: 'mt-s', to, content: `${r0} ${to}` }))),
          Promise.all(
            recipients.map((r) => {
              const after = last.get(r);
              return requestOk(gw, 'GET', `/coord/msg/poll?agent_id=${r}&timeout=0${after === undefined ? '' : `&after=${after}`}`);
            }),
          ),
        ]);
        for (const [i, r] of recipients.entries()) {
          const messages = polls[i]?.body.messages as { id: number; content: string }[];
          got.get(r)?.push(...messages.map((m) => m.content));
          if (messages.length > 0) last.set(r, messages[messages.length - 1]?.id as number);
        }
        const shared = await client.query(
          "SELECT count(*) AS n FROM cursors WHERE agent_id LIKE 'mt-r%' AND xmin::text IN (SELECT xmin::text FROM messages WHERE from_agent = 'mt-s')",
        );
        met = Number(shared.rows[0]?.n) > 0;
      }
      expect(met).toBe(true);
      // The rest, acknowledged by `after` too; then each recipient has had each of its messages once, in order.
      for (const r of recipients) {
        const after = last.get(r);
        const rest = await requestOk(gw, 'GET', `/coord/msg/poll?agent_id=${r}&timeout=0&limit=100${after === undefined ? '' : `&after=${after}`}`);
        got.get(r)?.push(...(rest.body.messages as { content: string }[]).map((m) => m.content));
      }
      for (const r of recipients) expect(got.get(r)).toEqual(Array.from({ length: round }, (_, i) => `${i} ${r}`));
    } finally {
      await client.end();
      await gw.stop();
    }
  });

  it('a poll reads the messages of the sends ahead of it in its transaction, and the commit waits for the flush', async () => {
    const gw = await startGateway(pgCoordinationToml(database.url));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      for (const agent of ['mf-s', 'mf-a', 'mf-b']) await requestOk(gw, 'POST', '/coord/agent/register', { agent_id: agent, role: 'w' });
      // The test cluster runs with synchronous_commit off (no flushes to wait for): the batch keeps this transaction's 'on'.
      await client.query('BEGIN; SET LOCAL synchronous_commit = on');
      try {
        const at = Date.now();
        const found = await client.query(
          'SELECT message_id, known, next_cursor, page FROM coord_meet_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)',
          [
            ['default'],
            ['mf-s'],
            ['mf-a'],
            ['hello'],
            [at],
            [null],
            100,
            [null],
            [false],
            ['mf-a', 'mf-b'],
            ['default', 'default'],
            [null, null],
            [10, 10],
            at,
          ],
        );
        const [send, pollA, pollB] = found.rows as {
          message_id: string | null;
          known: boolean | null;
          next_cursor: string | null;
          page: { content: string }[] | null;
        }[];
        expect(found.rows).toHaveLength(3);
        expect(send?.known).toBeNull();
        expect(pollA?.page?.map((m) => m.content)).toEqual(['hello']);
        expect(pollA?.next_cursor).toBe(send?.message_id);
        // mf-b moved no cursor (its coord_poll turned the flush off); the send still needs it.
        expect(pollB?.page).toEqual([]);
        expect((await client.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0]?.s).toBe('on');
      } finally {
        await client.query('ROLLBACK');
      }
    } finally {
      await client.end();
      await gw.stop();
    }
  });
});
