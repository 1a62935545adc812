import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { requestOk, startGateway, stopAll } from '../helpers/harness.js';
import { describePg, pgCoordinationToml, useTestDatabase } from '../helpers/pg.js';

afterAll(stopAll);

const N = 16;
const recipients = Array.from({ length: N }, (_, i) => `gc-r${i}`);
/** A batch carries its contents as text arrays: quotes, backslashes, braces, commas, NULL and other scripts must come back as sent. */
const content = (to: string, round: number): string => `r${round} for ${to}: "quoted" \\ back{slash}, NULL, {a,b} é 名 \u2028 end`;

describePg('[pg-speed] #31 sends and polls that meet at a gateway commit together (schema 10)', () => {
  const database = useTestDatabase('pggroup');

  it('commits concurrent sends, and concurrent polls, in fewer transactions than calls; each refusal stays its own; each message arrives once', async () => {
    const gw = await startGateway(pgCoordinationToml(database.url));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      for (const agent of ['gc-s', ...recipients]) await requestOk(gw, 'POST', '/coord/agent/register', { agent_id: agent, role: 'w' });
      // Whether calls overlap is up to the machine: a loaded one may answer each call before the next arrives.
      // So up to five rounds of N concurrent sends and N concurrent polls; each round checks every answer, and
      // at least one round's sends, and one round's polls, must have shared a commit.
      let sendsShared = false;
      let pollsShared = false;
      for (let round = 0; round < 5 && !(sendsShared && pollsShared); round++) {
        const sends = await Promise.all([
          ...recipients.map((to) => gw.request('POST', '/coord/msg/send', { from: 'gc-s', to, content: content(to, round) })),
          gw.request('POST', '/coord/msg/send', { from: 'gc-s', to: 'gc-nobody', content: 'lost' }),
        ]);
        expect(sends.slice(0, N).map((s) => s.status)).toEqual(recipients.map(() => 200));
        // The refusal of one send in a batch is its own (coord_send's refusal row), not its batch's.
        expect(sends[N]?.status).toBe(404);
        expect(sends[N]?.body.code).toBe('UNKNOWN_AGENT');
        // One transaction per send before: N row versions with N different xmins. Grouped, several share one.
        const senders = await client.query("SELECT count(DISTINCT xmin::text) AS n FROM messages WHERE from_agent = 'gc-s' AND content LIKE $1", [
          `r${round} %`,
        ]);
        sendsShared ||= Number(senders.rows[0]?.n) < N;

        const polls = await Promise.all(recipients.map((r) => requestOk(gw, 'GET', `/coord/msg/poll?agent_id=${r}&timeout=0`)));
        expect(polls.map((p) => (p.body.messages as { content: string }[]).map((m) => m.content))).toEqual(recipients.map((r) => [content(r, round)]));
        // The cursor moves of the polls (every cursor moved this round): fewer transactions than polls too.
        const cursors = await client.query("SELECT count(DISTINCT xmin::text) AS n, count(*) AS rows FROM cursors WHERE agent_id LIKE 'gc-r%'");
        expect(Number(cursors.rows[0]?.rows)).toBe(N);
        pollsShared ||= Number(cursors.rows[0]?.n) < N;
      }
      expect({ sendsShared, pollsShared }).toEqual({ sendsShared: true, pollsShared: true });
      // Each cursor moved in the commit of the poll that answered: nothing comes twice.
      const again = await Promise.all(recipients.map((r) => requestOk(gw, 'GET', `/coord/msg/poll?agent_id=${r}&timeout=0`)));
      expect(again.map((p) => p.body.messages)).toEqual(recipients.map(() => []));
    } finally {
      await client.end();
      await gw.stop();
    }
  });

  it('commits concurrent task claims, and concurrent completions, in fewer transactions than calls; no task is claimed twice', async () => {
    const gw = await startGateway(pgCoordinationToml(database.url));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const workers = Array.from({ length: N }, (_, i) => `gt-w${i}`);
      // As for messages: up to five rounds of N concurrent claims and N concurrent completions, each round checked
      // in full; at least one round's claims, and one round's completions, must have shared a commit.
      let claimsShared = false;
      let completionsShared = false;
      let held: { id: string; epoch: number; claimed_by: string }[] = [];
      let channel = 'gt';
      for (let round = 0; round < 5 && !(claimsShared && completionsShared); round++) {
        channel = `gt${round}`;
        for (const agent of workers) await requestOk(gw, 'POST', '/coord/agent/register', { agent_id: agent, role: 'w', channel });
        for (let i = 0; i < N + 4; i++) await requestOk(gw, 'POST', '/coord/task/post', { description: `t${i}`, posted_by: 'gt-w0', channel });
        const claims = await Promise.all(workers.map((w) => requestOk(gw, 'POST', '/coord/task/claim', { agent_id: w, channel })));
        held = claims.map((c) => c.body.task as { id: string; epoch: number; claimed_by: string });
        expect(new Set(held.map((t) => t.id)).size).toBe(N);
        expect(held.map((t) => t.claimed_by)).toEqual(workers);
        const claimed = await client.query("SELECT count(DISTINCT xmin::text) AS n FROM tasks WHERE channel = $1 AND status = 'claimed'", [channel]);
        claimsShared ||= Number(claimed.rows[0]?.n) < N;
        await Promise.all(held.map((t, i) => requestOk(gw, 'POST', '/coord/task/complete', { task_id: t.id, agent_id: workers[i], epoch: t.epoch })));
        const done = await client.query("SELECT count(*) AS rows, count(DISTINCT xmin::text) AS n FROM tasks WHERE channel = $1 AND status = 'complete'", [
          channel,
        ]);
        expect(Number(done.rows[0]?.rows)).toBe(N);
        completionsShared ||= Number(done.rows[0]?.n) < N;
      }
      expect({ claimsShared, completionsShared }).toEqual({ claimsShared: true, completionsShared: true });
      // A completion with a stale epoch in a batch is refused on its own, naming the task.
      const stale = await Promise.all([
        gw.request('POST', '/coord/task/complete', { task_id: held[0]?.id, agent_id: 'gt-w0', epoch: 99 }),
        ...[1, 2, 3].map((i) => gw.request('POST', '/coord/task/claim', { agent_id: workers[i], channel })),
      ]);
      expect(stale[0]?.status).toBe(409);
      expect(stale.slice(1).map((s) => s.status)).toEqual([200, 200, 200]);
    } finally {
      await client.end();
      await gw.stop();
    }
  });

  it('waits for the WAL flush when any poll of a batch moved a cursor on its own, and only then; an acknowledgement by `after` does not', async () => {
    const gw = await startGateway(pgCoordinationToml(database.url));
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      for (const agent of ['gf-s', 'gf-a', 'gf-b']) await requestOk(gw, 'POST', '/coord/agent/register', { agent_id: agent, role: 'w' });
      await requestOk(gw, 'POST', '/coord/msg/send', { from: 'gf-s', to: 'gf-a', content: 'one' });
      const commitSetting = async (agents: string[]): Promise<string> => {
        // The test cluster runs with synchronous_commit off (no flushes to wait for): the batch keeps this transaction's 'on'.
        await client.query('BEGIN; SET LOCAL synchronous_commit = on');
        try {
          const n = agents.length;
          await client.query('SELECT * FROM coord_poll_batch($1, $2, $3, $4, $5)', [
            agents,
            agents.map(() => 'default'),
            agents.map(() => null),
            agents.map(() => 10),
            Date.now(),
          ]);
          return (await client.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0]?.s ?? `none for ${n}`;
        } finally {
          await client.query('ROLLBACK');
        }
      };
      // gf-a has a message (its cursor moves, even as the first element), gf-b has none.
      expect(await commitSetting(['gf-a', 'gf-b'])).toBe('on');
      expect(await commitSetting(['gf-b', 'gf-a'])).toBe('on');
      expect(await commitSetting(['gf-b', 'gf-b'])).toBe('off');
      // AFTER ACK: a poll that acknowledges by `after` (gf-a's message id) and moves the cursor only so commits without the
      // flush; the same read on the cursor waits for it (above).
      const id = Number((await client.query("SELECT max(message_id) AS id FROM inbox WHERE recipient = 'gf-a'")).rows[0]?.id);
      await client.query('BEGIN; SET LOCAL synchronous_commit = on');
      try {
        const ack = await client.query("SELECT next_cursor FROM coord_poll('gf-a', 'default', $1, 10, $2)", [id, Date.now()]);
        expect(Number(ack.rows[0]?.next_cursor)).toBe(id);
        expect((await client.query('SELECT position FROM cursors WHERE agent_id = $1', ['gf-a'])).rows[0]?.position).toBe(String(id));
        expect((await client.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0]?.s).toBe('off');
      } finally {
        await client.query('ROLLBACK');
      }
    } finally {
      await client.end();
      await gw.stop();
    }
  });
});

describePg('[pg-speed] #31 an event trims the one id it pushes out of the buffer (schema 10)', () => {
  const database = useTestDatabase('pgtrim');

  it('deletes it by its key and row address, without a scan of the whole buffer, and keeps the buffer at its size', async () => {
    const gw = await startGateway(`${pgCoordinationToml(database.url)}max_event_buffer = 100\n`);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      for (const agent of ['tr-a', 'tr-b']) await requestOk(gw, 'POST', '/coord/agent/register', { agent_id: agent, role: 'w' });
      for (let i = 0; i < 150; i++) await requestOk(gw, 'POST', '/coord/msg/send', { from: 'tr-a', to: 'tr-b', content: `m${i}` });
      const live = async (): Promise<number> => Number((await client.query('SELECT count(*) AS n FROM events')).rows[0]?.n);
      expect(await live()).toBe(100);
      // What one more event reads of the events table: the backend's counts not yet reported (pg_stat_xact_user_tables) before
      // and after each call, the plan warmed past PostgreSQL's switch to a generic plan (the sixth call).
      const counts = async (): Promise<{ seq: number; fetched: number }> => {
        const found = await client.query("SELECT seq_scan, idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = 'events'");
        return { seq: Number(found.rows[0]?.seq_scan), fetched: Number(found.rows[0]?.idx_tup_fetch) };
      };
      const reads: { seq: number; fetched: number }[] = [];
      await client.query('BEGIN');
      try {
        for (let i = 0; i < 8; i++) {
          const before = await counts();
          await client.query("SELECT coord_event('probe', 'default', '{}', $1, 100)", [Date.now()]);
          const after = await counts();
          reads.push({ seq: after.seq - before.seq, fetched: after.fetched - before.fetched });
        }
      } finally {
        await client.query('COMMIT');
      }
      // Before: a hash semi-join over a scan of the whole buffer for every event.
      expect(reads).toEqual(reads.map(() => ({ seq: 0, fetched: 1 })));
      expect(await live()).toBe(100);
    } finally {
      await client.end();
      await gw.stop();
    }
  });
});
