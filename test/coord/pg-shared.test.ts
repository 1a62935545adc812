import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { CoordError } from '../../backends/coord/errors.js';
import { MIGRATIONS } from '../../backends/coord/migrations.js';
import { openPgStore, postgresSteps } from '../../backends/coord/pg-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import { expectCode, registerAll } from '../helpers/coord-store.js';
import { describePg, freshSchema, listenerPids, useTestDatabase } from '../helpers/pg.js';

/** Several gateways' coordination stores on one PostgreSQL schema. */
describePg('PostgreSQL coordination store shared by several gateways', () => {
  const database = useTestDatabase('coordshared');
  const open: CoordStore[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  async function gateways(n: number): Promise<CoordStore[]> {
    const schema = freshSchema();
    const stores: CoordStore[] = [];
    // No re-reading without a notification: only NOTIFY from another gateway can end a wait early.
    for (let i = 0; i < n; i++) stores.push(await openPgStore({ url: database.url, schema, max: 4 }, {}, { recheckMs: 600_000 }));
    open.push(...stores);
    return stores;
  }

  it('has every schema step in the PostgreSQL dialect too', async () => {
    expect(postgresSteps().map((s) => s.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(() => postgresSteps([...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'sqlite only', sql: 'SELECT 1' }])).toThrow(/no PostgreSQL dialect/);
    const [store] = (await gateways(1)) as [CoordStore];
    expect(await store.health()).toMatchObject({ store: 'postgres', schema_version: MIGRATIONS.length });
  });

  it('grants one of many exclusive claims on a file raced through three gateways, and refuses the rest naming the holder', async () => {
    const stores = await gateways(3);
    const racers = Array.from({ length: 24 }, (_, i) => `agent${i}`);
    const outcomes = await Promise.all(
      racers.map((agent_id, i) =>
        (stores[i % 3] as CoordStore).announceClaim({ agent_id, repo: 'r', paths: ['src/shared.ts'], intent: 'rewrite', exclusive: true }).then(
          (granted) => ({ granted: granted.claim }),
          (error: unknown) => ({ refused: error }),
        ),
      ),
    );
    const granted = outcomes.flatMap((o) => ('granted' in o ? [o.granted] : []));
    expect(granted).toHaveLength(1);
    const holder = granted[0]?.agent_id;
    const refusals = outcomes.flatMap((o) => ('refused' in o ? [o.refused] : []));
    expect(refusals).toHaveLength(racers.length - 1);
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(CoordError);
      if (!(refusal instanceof CoordError)) continue;
      expect(refusal.code).toBe('CONFLICT');
      expect(refusal.message).toContain(`'${holder}'`);
    }
    for (const store of stores) expect((await store.listClaims({ repo: 'r' })).map((c) => c.agent_id)).toEqual([holder]);
  });

  it('wakes a long-poll on one gateway with the notice of a thread opened and acted on through another', async () => {
    const [a, b] = (await gateways(2)) as [CoordStore, CoordStore];
    await registerAll(a, ['holder', 'newcomer']);
    await a.announceClaim({ agent_id: 'holder', paths: ['src/user.ts'], intent: 'Add updated_at' });
    const waiting = a.poll({ agent_id: 'holder', timeout_ms: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const { thread } = await b.announceClaim({ agent_id: 'newcomer', paths: ['src/user.ts'], intent: 'Migrate the User type' });
    if (thread === null) throw new Error('expected a thread');
    expect((await waiting).messages).toMatchObject([{ from: 'newcomer', content: expect.stringContaining(`[thread ${thread.id}] newcomer opened a thread`) }]);
    // An action on A is seen on B: state, message and notice.
    const next = b.poll({ agent_id: 'newcomer', timeout_ms: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await a.actOnThread({ thread_id: thread.id, agent_id: 'holder', action: 'post', kind: 'proposal', content: 'I go first' });
    expect((await next).messages).toMatchObject([{ from: 'holder', content: expect.stringContaining('proposal: I go first') }]);
    expect((await b.getThread({ thread_id: thread.id, agent_id: 'newcomer' })).thread).toMatchObject({ status: 'proposed', approvals: ['holder'] });
  });

  it('wakes a long-poll on one gateway when another accepts the message', async () => {
    const [a, b] = (await gateways(2)) as [CoordStore, CoordStore];
    await registerAll(a, ['sender', 'receiver']);
    const waiting = a.poll({ agent_id: 'receiver', timeout_ms: 20_000 });
    // Give the poll time to park on A (if it has not, it finds the message at once: the test still holds).
    await new Promise((resolve) => setTimeout(resolve, 100));
    const sent = await b.sendMessage({ from: 'sender', to: 'receiver', content: 'across' });
    const page = await waiting;
    expect(page.messages.map((m) => [m.id, m.content])).toEqual([[sent.id, 'across']]);
    expect(page.next_cursor).toBe(sent.id);
  });

  it('wakes a state watch and an event long-poll across gateways', async () => {
    const [a, b] = (await gateways(2)) as [CoordStore, CoordStore];
    const start = await a.events({ after: 0 });
    const watch = a.watchState({ key: 'build', timeout_ms: 20_000 });
    const events = a.events({ after: start.last_id, timeout_ms: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await b.setState({ key: 'build', value: { ok: true } });
    expect(await watch).toMatchObject({ changed: true, version: 1, value: { ok: true } });
    const page = await events;
    expect(page.events.map((e) => e.type)).toContain('state_changed');
  });

  it('keeps compare-and-set exact across gateways', async () => {
    const [a, b] = (await gateways(2)) as [CoordStore, CoordStore];
    await a.setState({ key: 'k', value: 0 });
    const writers = Array.from({ length: 20 }, (_, i) =>
      (i % 2 === 0 ? a : b).setState({ key: 'k', value: i + 1, expected_version: 1 }).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    const outcomes = await Promise.all(writers);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    await expectCode(b.setState({ key: 'k', value: 'late', expected_version: 1 }), 'CONFLICT');
    expect((await a.getState('k')).version).toBe(2);
  });

  it('hands 40 tasks to 60 claimers spread over three gateways exactly once', async () => {
    const stores = await gateways(3);
    const agents = Array.from({ length: 60 }, (_, i) => `w${i}`);
    await registerAll(stores[0] as CoordStore, [...agents, 'p']);
    for (let i = 0; i < 40; i++) await (stores[i % 3] as CoordStore).postTask({ description: `t${i}`, posted_by: 'p', priority: i % 4 });
    const results = await Promise.all(agents.map((agent_id, i) => (stores[i % 3] as CoordStore).claimTask({ agent_id })));
    const claimed = results.flatMap((r) => (r.task === null ? [] : [r.task.id]));
    expect(claimed).toHaveLength(40);
    expect(new Set(claimed).size).toBe(40);
  });

  it('delivers concurrent sends from several gateways in id order, none skipped by a cursor', async () => {
    const stores = await gateways(3);
    const a = stores[0] as CoordStore;
    await registerAll(a, ['rx', 's0', 's1', 's2']);
    const received: number[] = [];
    let stop = false;
    const reader = (async () => {
      while (!stop || received.length < 150) {
        const page = await a.poll({ agent_id: 'rx', timeout_ms: 1_000 });
        received.push(...page.messages.map((m) => m.id));
        if (stop && page.messages.length === 0) break;
      }
    })();
    await Promise.all(
      stores.map(async (s, i) => {
        for (let n = 0; n < 50; n++) await s.sendMessage({ from: `s${i}`, to: 'rx', content: `${i}:${n}` });
      }),
    );
    stop = true;
    await reader;
    expect(received).toHaveLength(150);
    expect([...received].sort((x, y) => x - y)).toEqual(received);
    expect(new Set(received).size).toBe(150);
  });

  it('reopens a LISTEN connection that the server dropped, and wakes long-polls again', async () => {
    const [a, b] = (await gateways(2)) as [CoordStore, CoordStore];
    await registerAll(a, ['sender', 'receiver']);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const listeners = (): Promise<number[]> => listenerPids(admin);
      const before = await listeners();
      expect(before.length).toBeGreaterThanOrEqual(2);
      await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before]);
      // Both stores reconnect (after about a second) and LISTEN again on new connections.
      for (;;) {
        const now = await listeners();
        if (now.length >= 2 && now.every((pid) => !before.includes(pid))) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await admin.end();
    }
    const waiting = a.poll({ agent_id: 'receiver', timeout_ms: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await b.sendMessage({ from: 'sender', to: 'receiver', content: 'after the reconnect' });
    expect((await waiting).messages.map((m) => m.content)).toEqual(['after the reconnect']);
  });
});
