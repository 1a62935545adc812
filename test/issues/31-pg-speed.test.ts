import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { describePg, useTestDatabase } from '../helpers/pg.js';
import { eventsOf, readSse } from '../helpers/sse.js';

afterAll(stopAll);

const AGENTS = 12;
const PER_SENDER = 60;
const BROADCASTS = 10;

type Answer = { status: number; body: Record<string, unknown> };

async function call(gw: RunningGateway, method: string, path: string, body?: unknown): Promise<Answer> {
  const answer = await gw.request(method, path, body);
  if (answer.status !== 200) throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer;
}

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

  it('sends while another session holds the old global write lock: the message path takes no global lock', async () => {
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
