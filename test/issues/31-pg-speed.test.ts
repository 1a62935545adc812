import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { findPgBinaries, startPgCluster } from '../../tools/pg-cluster.js';
import { demoBackend, eventually, q, type RunningGateway, requestOk, startGateway, stopAll } from '../helpers/harness.js';
import { describePg, useTestDatabase } from '../helpers/pg.js';
import { eventsOf, readSse } from '../helpers/sse.js';

afterAll(stopAll);

const AGENTS = 12;
const PER_SENDER = 60;
const BROADCASTS = 10;

/** A coordination request that must answer 200 (harness.ts). */
const call = requestOk;

const gatewayToml = (url: string): string => `
[store]
url = ${q(url)}
pool_size = 8

[coordination]
max_event_buffer = 100000
poll_timeout_max = 5
`;

describePg('[pg-speed] #31 message writes without the global lock', () => {
  const database = useTestDatabase('pgspeed');

  it('sends and registers while another session holds the old global write lock: the message path and registrations take no global lock', async () => {
    const gw = await startGateway(gatewayToml(database.url));
    await call(gw, 'POST', '/coord/agent/register', { agent_id: 'lock-a', role: 'w' });
    await call(gw, 'POST', '/coord/agent/register', { agent_id: 'lock-b', role: 'w' });
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      // The lock every write took before schema 7 (backends/coord/pg/context.ts, write()).
      await holder.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ' coord writes'))");
      const sent = await call(gw, 'POST', '/coord/msg/send', { from: 'lock-a', to: 'lock-b', content: 'past the lock' });
      const broadcast = await call(gw, 'POST', '/coord/msg/broadcast', { from: 'lock-a', content: 'to all' });
      const polled = await call(gw, 'GET', '/coord/msg/poll?agent_id=lock-b&timeout=0');
      expect((polled.body.messages as { id: number }[]).map((m) => m.id)).toEqual([sent.body.id, broadcast.body.id]);
      // Since schema 8 a registration takes only its agent's lock.
      const registered = await call(gw, 'POST', '/coord/agent/register', { agent_id: 'lock-c', role: 'w' });
      expect(registered.body.created).toBe(true);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    await gw.stop();
  });

  it('two gateways, concurrent senders, broadcasters and pollers: no message skipped, duplicated or reordered per inbox; every event read once, in order', {
    timeout: 180_000,
  }, async () => {
    const toml = gatewayToml(database.url);
    const gateways = await Promise.all([startGateway(toml), startGateway(toml)]);
    const [a, b] = gateways as [RunningGateway, RunningGateway];
    const agents = Array.from({ length: AGENTS }, (_, i) => `ord-${i}`);
    for (const [i, id] of agents.entries())
      await call(gateways[i % 2] as RunningGateway, 'POST', '/coord/agent/register', { agent_id: id, role: 'w', channel: 'ord' });

    // An event stream on B from the start: every message event must arrive once, ids increasing (the watermark, argument 2).
    const stream = new AbortController();
    const events = await fetch(`${b.url}/coord/events?after=0&channel=ord`, { signal: stream.signal });
    expect(events.status).toBe(200);
    const isMessage = (e: { event: string }): boolean => e.event === 'message' || e.event === 'broadcast';
    const total = AGENTS * PER_SENDER;
    const streamed = readSse(events.body as ReadableStream<Uint8Array>, (f) => eventsOf(f).filter(isMessage).length >= total + BROADCASTS, 120_000);

    // Pollers on the other gateway than their agent registered on, in cursor mode (no after): each id once, increasing.
    const received = new Map<string, { id: number; content: string }[]>(agents.map((id) => [id, []]));
    let sendingDone = false;
    const pollers = agents.map(async (id, i) => {
      const gw = gateways[(i + 1) % 2] as RunningGateway;
      for (;;) {
        const page = await call(gw, 'GET', `/coord/msg/poll?agent_id=${id}&channel=ord&timeout=1`);
        const messages = page.body.messages as { id: number; content: string }[];
        (received.get(id) as { id: number; content: string }[]).push(...messages);
        if (messages.length === 0 && sendingDone) return;
      }
    });

    // Senders: each agent sends in turn to every other agent through its own gateway, one at a time (acknowledged before the next).
    const acknowledged = new Map<string, number[]>(agents.map((id) => [id, []]));
    const senders = agents.map(async (from, i) => {
      const gw = gateways[i % 2] as RunningGateway;
      for (let n = 0; n < PER_SENDER; n++) {
        const to = agents[(i + 1 + (n % (AGENTS - 1))) % AGENTS] as string;
        const sent = await call(gw, 'POST', '/coord/msg/send', { from, to, content: `${from}#${n}`, channel: 'ord' });
        (acknowledged.get(to) as number[]).push(sent.body.id as number);
      }
    });
    const broadcaster = (async () => {
      for (let n = 0; n < BROADCASTS; n++) {
        const from = agents[n % AGENTS] as string;
        const sent = await call(gateways[n % 2] as RunningGateway, 'POST', '/coord/msg/broadcast', { from, content: `${from}!${n}`, channel: 'ord' });
        for (const to of sent.body.recipients as string[]) (acknowledged.get(to) as number[]).push(sent.body.id as number);
      }
    })();
    await Promise.all([...senders, broadcaster]);
    sendingDone = true;
    await Promise.all(pollers);

    for (const id of agents) {
      const got = (received.get(id) ?? []).map((m) => m.id);
      // Increasing ids: no duplicate, no reorder; the same set as acknowledged: nothing skipped.
      expect(
        got.every((x, k) => k === 0 || x > (got[k - 1] as number)),
        `ids delivered to ${id} increase`,
      ).toBe(true);
      expect(
        [...got].sort((x, y) => x - y),
        `inbox of ${id}`,
      ).toEqual([...(acknowledged.get(id) ?? [])].sort((x, y) => x - y));
      // Per sender, in the order sent.
      const bySender = new Map<string, number[]>();
      for (const m of received.get(id) ?? []) {
        const [sender, n] = m.content.split('#');
        if (n !== undefined) bySender.set(sender as string, [...(bySender.get(sender as string) ?? []), Number(n)]);
      }
      for (const [sender, ns] of bySender) expect(ns, `${sender} → ${id} in order`).toEqual([...ns].sort((x, y) => x - y));
    }

    // The stream: every message and broadcast event, once, ids increasing.
    const frames = await streamed;
    stream.abort();
    const read = eventsOf(frames).map((e) => Number(e.id));
    expect(read.every((x, k) => k === 0 || x > (read[k - 1] as number))).toBe(true);
    const messageIds = eventsOf(frames)
      .filter(isMessage)
      .map((e) => (JSON.parse(e.data) as { message_id: number }).message_id);
    const allSent = [...new Set([...acknowledged.values()].flat())].sort((x, y) => x - y);
    expect([...messageIds].sort((x, y) => x - y)).toEqual(allSent);
    await Promise.all([a.stop(), b.stop()]);
  });
});

describePg('[pg-speed] #31 what a write costs the database (schema 8)', () => {
  const database = useTestDatabase('pgcost');

  it('a write commits without NOTIFY (no database-wide notify lock over its flush), and last-seen times are written at most once a second', async () => {
    const gw = await startGateway(gatewayToml(database.url));
    await call(gw, 'POST', '/coord/agent/register', { agent_id: 'cost-a', role: 'w' });
    await call(gw, 'POST', '/coord/agent/register', { agent_id: 'cost-b', role: 'w' });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      // The store's NOTIFY channel (backends/coord/pg-store.ts) and a marker of our own: a listener gets notifications in
      // commit order, so whatever the write's transaction notified arrives before the marker sent after its commit.
      const channel = `coord_${createHash('sha256').update('public').digest('hex').slice(0, 20)}`;
      const heard: string[] = [];
      const marker = new Promise<void>((resolve) =>
        client.on('notification', (n) => (n.channel === 'cost_marker' ? resolve() : heard.push(`${n.channel} ${n.payload}`))),
      );
      await client.query(`LISTEN ${channel}`);
      await client.query('LISTEN cost_marker');
      await client.query('BEGIN');
      const sent = await client.query("SELECT message_id FROM coord_send('default', 'cost-a', 'cost-b', 'direct', $1, NULL, 1000, NULL, FALSE)", [Date.now()]);
      const task = await client.query("SELECT task FROM coord_task_post('t1', 'default', 'd', 'cost-a', NULL, 0, '{}', $1, '{}', 1000)", [Date.now()]);
      await client.query('COMMIT');
      await client.query("NOTIFY cost_marker, 'after'");
      await marker;
      expect(Number(sent.rows[0]?.message_id)).toBeGreaterThan(0);
      expect(task.rows[0]?.task).not.toBeNull();
      expect(heard, 'NOTIFYs sent inside the writing transaction').toEqual([]);

      // Polls that find nothing: the agent's row gets no new version (xmin) more than once, however many polls a second.
      const version = async (): Promise<string> => (await client.query("SELECT xmin::text AS v FROM agents WHERE id = 'cost-b'")).rows[0]?.v as string;
      await call(gw, 'GET', '/coord/msg/poll?agent_id=cost-b&timeout=0');
      const versions = [await version()];
      const started = performance.now();
      for (let i = 0; i < 8; i++) {
        await call(gw, 'GET', '/coord/msg/poll?agent_id=cost-b&timeout=0');
        versions.push(await version());
      }
      // One write per second that passed (and one for a second boundary), not one per poll.
      const writes = new Set(versions).size - 1;
      expect(writes).toBeLessThanOrEqual(Math.floor((performance.now() - started) / 1000) + 1);
      expect(writes).toBeLessThan(8);
    } finally {
      await client.end();
      await gw.stop();
    }
  });
});

describePg('[pg-speed] #31 PostgreSQL restarted under load', () => {
  it('stores an async outcome that arrived while PostgreSQL was down once it is back, instead of leaving the call running', { timeout: 120_000 }, async () => {
    const bin = findPgBinaries();
    expect(bin, 'PostgreSQL server binaries').toBeDefined();
    const cluster = await startPgCluster(bin as string, { fsync: true });
    try {
      const gw = await startGateway(`[store]\nurl = ${q(cluster.url)}\npool_size = 4\n\n[coordination]\nenabled = false\n\n${demoBackend()}\n`);
      await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
      const submitted = await gw.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 1_500 } });
      const id = submitted.body.call_id as string;
      await eventually(async () => (await gw.request('GET', `/call/${id}`)).body.status === 'running');
      cluster.halt();
      // The call ends while the database is down: its outcome cannot be written yet.
      await gw.waitForLog((l) => l.call_id === id && typeof l.msg === 'string' && l.msg.startsWith('could not store async call result'), 30_000);
      cluster.start();
      const outcome = await eventually(async () => {
        const got = await gw.request('GET', `/call/${id}`).catch(() => undefined);
        return got?.status === 200 && got.body.status !== 'running' && got.body.status !== 'pending' ? got.body : undefined;
      }, 60_000);
      expect(outcome).toMatchObject({ status: 'complete' });
      await gw.stop();
    } finally {
      cluster.stop();
    }
  });

  it('keeps an async call that runs across a pg_ctl restart: its outcome is stored and read afterwards', { timeout: 120_000 }, async () => {
    const bin = findPgBinaries();
    expect(bin, 'PostgreSQL server binaries').toBeDefined();
    const cluster = await startPgCluster(bin as string, { fsync: true });
    try {
      const gw = await startGateway(`[store]\nurl = ${q(cluster.url)}\npool_size = 4\n\n[coordination]\nenabled = false\n\n${demoBackend()}\n`);
      await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
      // Long enough to outlast the restart: the outcome is written once PostgreSQL is back.
      const submitted = await gw.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 8_000 } });
      expect(submitted.status).toBe(202);
      const id = submitted.body.call_id as string;
      await eventually(async () => (await gw.request('GET', `/call/${id}`)).body.status === 'running');
      cluster.restart();
      const outcome = await eventually(async () => {
        const got = await gw.request('GET', `/call/${id}?wait_ms=10000`).catch(() => undefined);
        return got?.status === 200 && got.body.status !== 'running' && got.body.status !== 'pending' ? got.body : undefined;
      }, 60_000);
      expect(outcome).toMatchObject({ status: 'complete' });
      await eventually(async () => (await gw.request('GET', '/health')).body.status === 'ok', 60_000);
      await gw.stop();
    } finally {
      cluster.stop();
    }
  });

  it('keeps serving what needs no store, reports the store in /health while PostgreSQL is down, and loses no acknowledged message or task (stop and start, then pg_ctl restart mid-flight)', {
    timeout: 240_000,
  }, async () => {
    const bin = findPgBinaries();
    expect(bin, 'PostgreSQL server binaries').toBeDefined();
    // A server of its own, with fsync as in production: the shared one serves the other test files.
    const cluster = await startPgCluster(bin as string, { fsync: true });
    try {
      const gw = await startGateway(gatewayToml(cluster.url));
      const pairs = Array.from({ length: 4 }, (_, i) => ({ from: `rs-tx${i}`, to: `rs-rx${i}` }));
      for (const { from, to } of pairs) {
        await call(gw, 'POST', '/coord/agent/register', { agent_id: from, role: 'w' });
        await call(gw, 'POST', '/coord/agent/register', { agent_id: to, role: 'w' });
      }
      const TASKS = 60;
      for (let t = 0; t < TASKS; t++) await call(gw, 'POST', '/coord/task/post', { description: `task ${t}`, posted_by: 'rs-tx0' });

      // Load: every answer that is a 200 is acknowledged; anything else (the database is down) is not, and is not retried.
      let stopping = false;
      const acked = new Map<string, number[]>(pairs.map((p) => [p.to, []]));
      let ackedCount = 0;
      let refused = 0;
      const attempt = async (method: string, path: string, body?: unknown): Promise<Awaited<ReturnType<typeof requestOk>> | undefined> => {
        const answer = await gw.request(method, path, body).catch(() => undefined);
        if (answer === undefined || answer.status !== 200) {
          refused += 1;
          await new Promise((resolve) => setTimeout(resolve, 20)); // a refused call's client backs off before its next one
          return undefined;
        }
        return answer;
      };
      const senders = pairs.map(async ({ from, to }) => {
        for (let n = 0; !stopping; n++) {
          const sent = await attempt('POST', '/coord/msg/send', { from, to, content: `${from}#${n}` });
          if (sent === undefined) continue;
          (acked.get(to) as number[]).push(sent.body.id as number);
          ackedCount += 1;
        }
      });
      const completed = new Set<string>();
      const workers = pairs.map(async ({ from }) => {
        while (!stopping) {
          const claim = await attempt('POST', '/coord/task/claim', { agent_id: from });
          const task = claim?.body.task as { id: string; epoch: number } | null | undefined;
          if (task === null) return;
          if (task === undefined) continue;
          const done = await attempt('POST', '/coord/task/complete', { task_id: task.id, agent_id: from, epoch: task.epoch });
          if (done !== undefined) completed.add(task.id);
        }
      });
      const progress = async (over: number): Promise<void> => {
        const target = ackedCount + over;
        await eventually(() => ackedCount >= target, 60_000, 10);
      };

      await progress(50);
      cluster.halt();
      // Down: the store is reported, the gateway still answers.
      const down = await eventually(async () => {
        const health = await gw.request('GET', '/health');
        const store = (health.body.checks as { store?: { status: string; problems: string[] } }).store;
        return store?.problems.some((p) => p.includes('PostgreSQL')) ? health : undefined;
      }, 30_000);
      // [pg-speed] Down (503): [store] url is the gateway database too (test/issues/31-pg-health-down.test.ts).
      expect(down.status).toBe(503);
      expect(down.body.status).toBe('down');
      expect((await gw.request('GET', '/livez')).status).toBe(200);

      cluster.start();
      await eventually(async () => (await gw.request('GET', '/health')).body.status === 'ok', 60_000);
      await progress(50);
      // Mid-flight, without a pause: pg_ctl restart while the senders and workers keep going.
      cluster.restart();
      await eventually(async () => (await gw.request('GET', '/health')).body.status === 'ok', 60_000);
      await progress(50);
      stopping = true;
      await Promise.all([...senders, ...workers]);
      expect(refused, 'calls refused while PostgreSQL was down').toBeGreaterThan(0);

      // Every acknowledged message is in its inbox once (polls with after: a lost answer is asked again).
      for (const { to } of pairs) {
        const got: number[] = [];
        for (let after = 0; ; ) {
          const page = await call(gw, 'GET', `/coord/msg/poll?agent_id=${to}&after=${after}&timeout=0&limit=500`);
          const ids = (page.body.messages as { id: number }[]).map((m) => m.id);
          if (ids.length === 0) break;
          got.push(...ids);
          after = page.body.next_cursor as number;
        }
        const wanted = acked.get(to) ?? [];
        expect(
          wanted.filter((id) => !got.includes(id)),
          `acknowledged messages to ${to} missing`,
        ).toEqual([]);
        expect(new Set(got).size).toBe(got.length);
      }
      // Every acknowledged completion is stored.
      const tasks = await call(gw, 'GET', '/coord/task/list?status=complete&limit=500');
      const stored = new Set((tasks.body.tasks as { id: string }[]).map((t) => t.id));
      expect([...completed].filter((id) => !stored.has(id))).toEqual([]);
      await gw.stop();
    } finally {
      cluster.stop();
    }
  });
});
