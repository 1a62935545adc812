import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { eventually, q, requestOk, startGateway, stopAll } from '../helpers/harness.js';
import { describePg, useTestDatabase } from '../helpers/pg.js';

afterAll(stopAll);

/** A coordination request that must answer 200 (harness.ts). */
const call = requestOk;

const gatewayToml = (url: string): string => `
[store]
url = ${q(url)}
pool_size = 4

[coordination]
poll_timeout_max = 30
`;

const ROUNDS = 8;

describePg('[pg-speed] #31 a send hands its message to a long-poll parked on the same gateway (schema 9)', () => {
  const database = useTestDatabase('pghandoff');

  it('answers the parked poll from the send: the cursor moves in the send’s own commit, each message is delivered once, in order', async () => {
    const gw = await startGateway(gatewayToml(database.url));
    await call(gw, 'POST', '/coord/agent/register', { agent_id: 'hand-a', role: 'w' });
    await call(gw, 'POST', '/coord/agent/register', { agent_id: 'hand-b', role: 'w' });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const delivered: number[] = [];
      const sent: number[] = [];
      let handed = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const polling = call(gw, 'GET', '/coord/msg/poll?agent_id=hand-b&timeout=20');
        // The poll's first read has run (and found nothing) once no statement of the gateway is running and one read was coord_poll.
        // From the second round on the poll may park without reading (the handoff left the inbox known empty: pg/inbox-memo.ts),
        // which the database cannot show: then only no statement running (a send that races the park is read, as the test allows).
        await eventually(async () => {
          const found = await client.query(
            "SELECT count(*) FILTER (WHERE state = 'active') AS active, count(*) FILTER (WHERE query LIKE '%coord_poll%') AS polls FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
          );
          return Number(found.rows[0]?.active) === 0 && (Number(found.rows[0]?.polls) > 0 || round > 0);
        });
        const answer = await call(gw, 'POST', '/coord/msg/send', { from: 'hand-a', to: 'hand-b', content: `m${round}` });
        const id = answer.body.id as number;
        sent.push(id);
        const page = (await polling).body as { messages: { id: number; content: string }[]; next_cursor: number };
        delivered.push(...page.messages.map((m) => m.id));
        expect(page.next_cursor).toBe(id);
        // Handed over: the cursor row was written by the transaction that wrote the message (before: by the poll's own).
        const writers = await client.query(
          "SELECT (SELECT xmin::text FROM cursors WHERE agent_id = 'hand-b') AS cursor, (SELECT xmin::text FROM inbox WHERE message_id = $1) AS message",
          [id],
        );
        if (writers.rows[0]?.cursor === writers.rows[0]?.message) handed += 1;
      }
      expect(delivered).toEqual(sent);
      // Without handoffs every round reads again after the wake-up; a round whose send raced the poll's park may read too.
      expect(handed).toBeGreaterThan(0);
      // Nothing is left for a poll that reads the cursor, and a message sent with no poll parked is read as before.
      expect((await call(gw, 'GET', '/coord/msg/poll?agent_id=hand-b&timeout=0')).body.messages).toEqual([]);
      const late = await call(gw, 'POST', '/coord/msg/send', { from: 'hand-a', to: 'hand-b', content: 'late' });
      const read = await call(gw, 'GET', '/coord/msg/poll?agent_id=hand-b&timeout=0');
      expect((read.body.messages as { id: number }[]).map((m) => m.id)).toEqual([late.body.id]);
    } finally {
      await client.end();
      await gw.stop();
    }
  });

  it('hands a parked poll with `after` its message without moving the cursor, and refuses a handoff when a lower id it has not seen is there', async () => {
    const gw = await startGateway(gatewayToml(database.url));
    await call(gw, 'POST', '/coord/agent/register', { agent_id: 'after-a', role: 'w' });
    await call(gw, 'POST', '/coord/agent/register', { agent_id: 'after-b', role: 'w' });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const first = (await call(gw, 'POST', '/coord/msg/send', { from: 'after-a', to: 'after-b', content: 'first' })).body.id as number;
      // The database refuses a handoff past a message the poll has not seen: coord_send's prev check (HANDOFF ORDER).
      const refused = await client.query("SELECT message_id, handed FROM coord_send('default', 'after-a', 'after-b', 'x', $1, NULL, 1000, $2, FALSE)", [
        Date.now(),
        first - 1,
      ]);
      expect(refused.rows[0]?.handed).toBe(false);
      const accepted = await client.query("SELECT message_id, handed FROM coord_send('default', 'after-a', 'after-b', 'y', $1, NULL, 1000, $2, FALSE)", [
        Date.now(),
        refused.rows[0]?.message_id,
      ]);
      expect(accepted.rows[0]?.handed).toBe(true);
      // On the cursor, the handoff is a compare-and-set: a cursor that is not where the poll saw it is left alone.
      const moved = await client.query("SELECT message_id, handed FROM coord_send('default', 'after-a', 'after-b', 'z', $1, NULL, 1000, $2, TRUE)", [
        Date.now(),
        accepted.rows[0]?.message_id,
      ]);
      expect(moved.rows[0]?.handed).toBe(false);
      const cursor = await client.query("SELECT position FROM cursors WHERE agent_id = 'after-b'");
      expect(cursor.rows).toEqual([]);
      // The REST poll with after= reads everything past it, in order, whatever was handed.
      const page = await call(gw, 'GET', `/coord/msg/poll?agent_id=after-b&after=0&timeout=0`);
      expect((page.body.messages as { content: string }[]).map((m) => m.content)).toEqual(['first', 'x', 'y', 'z']);
    } finally {
      await client.end();
      await gw.stop();
    }
  });
});

describePg('[pg-speed] #31 a gateway alone on its database announces nothing (kit/pg-announcer.ts, ALONE)', () => {
  const database = useTestDatabase('pgalone');

  it('sends no NOTIFY for its writes until a second gateway says HELLO; then both announce, and a send on one wakes a poll on the other', async () => {
    const a = await startGateway(gatewayToml(database.url));
    await call(a, 'POST', '/coord/agent/register', { agent_id: 'alone-a', role: 'w' });
    await call(a, 'POST', '/coord/agent/register', { agent_id: 'alone-b', role: 'w' });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      // The store's NOTIFY channel (backends/coord/pg-store.ts); a payload is the sender's tag, then its topics or words, split by U+001E.
      const channel = `coord_${createHash('sha256').update('public').digest('hex').slice(0, 20)}`;
      const heard: string[][] = [];
      client.on('notification', (n) => heard.push((n.payload ?? '').split('\u001e')));
      await client.query(`LISTEN ${channel}`);
      await call(a, 'POST', '/coord/msg/send', { from: 'alone-a', to: 'alone-b', content: 'nobody else listens' });
      expect((await call(a, 'GET', '/coord/msg/poll?agent_id=alone-b&timeout=0')).body.messages).toHaveLength(1);
      const b = await startGateway(gatewayToml(database.url));
      // A answers B's HELLO with HERE; before that word, nothing of A's was heard: its send was not announced.
      const here = await eventually(() => heard.find((p) => p[1] === '\u0001here'));
      const tagA = here[0];
      expect(heard.slice(0, heard.indexOf(here)).filter((p) => p[0] === tagA)).toEqual([]);
      // Both announce now: a poll parked on B wakes for a send on A.
      await eventually(() => heard.some((p) => p[1] === '\u0001synced'));
      const polling = call(b, 'GET', '/coord/msg/poll?agent_id=alone-b&timeout=20');
      await eventually(async () => {
        const found = await client.query(
          "SELECT count(*) FILTER (WHERE state = 'active') AS active, count(*) FILTER (WHERE query LIKE '%coord_poll%') AS polls FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        );
        return Number(found.rows[0]?.active) === 0 && Number(found.rows[0]?.polls) > 0;
      });
      const sent = await call(a, 'POST', '/coord/msg/send', { from: 'alone-a', to: 'alone-b', content: 'to the other gateway' });
      const page = (await polling).body.messages as { id: number; content: string }[];
      expect(page.map((m) => m.content)).toContain('to the other gateway');
      expect(page.at(-1)?.id).toBe(sent.body.id);
      expect(heard.some((p) => p[0] === tagA && p.includes(`inbox\u001fdefault\u001falone-b`))).toBe(true);
      await b.stop();
    } finally {
      await client.end();
      await a.stop();
    }
  });
});
