import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, type MakeStore, registerAll, report, StoreSet } from '../helpers/coord-store.js';

interface Receiver {
  url: string;
  bodies: Array<Record<string, unknown>>;
  /** Resolves once `n` requests arrived. */
  received(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A local webhook receiver answering `statuses` in turn (then 200). */
async function receiver(statuses: number[] = []): Promise<Receiver> {
  const bodies: Array<Record<string, unknown>> = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(statuses.shift() ?? 200).end();
      for (const w of waiters.filter((w) => bodies.length >= w.n)) w.resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/doorbell`,
    bodies,
    received: (n) => (bodies.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Direct messages, broadcasts, poll cursors, long-poll, history and doorbells. */
export function messageContract(make: MakeStore): void {
  describe('messages', () => {
    const stores = new StoreSet(make);
    afterEach(() => stores.closeAll());

    it('sends to a registered recipient and refuses unknown senders and recipients', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      const sent = await store.sendMessage({ from: 'a', to: 'b', content: 'hello' });
      expect(sent).toMatchObject({ channel: 'default', doorbells: 0 });
      expect(sent.id).toBeGreaterThan(0);
      await expectCode(store.sendMessage({ from: 'ghost', to: 'b', content: 'x' }), 'UNKNOWN_AGENT');
      await expectCode(store.sendMessage({ from: 'a', to: 'ghost', content: 'x' }), 'UNKNOWN_AGENT');
    });

    it('enforces max_message_size in UTF-8 bytes with PAYLOAD_TOO_LARGE and a clear sentence', async () => {
      const store = await stores.store({ max_message_size: 10 });
      await registerAll(store, ['a', 'b']);
      await store.sendMessage({ from: 'a', to: 'b', content: '0123456789' });
      const refusal = await expectCode(store.sendMessage({ from: 'a', to: 'b', content: 'ééééé!' }), 'PAYLOAD_TOO_LARGE');
      expect(refusal.message).toMatch(/11 bytes; the limit is 10 bytes \(max_message_size\)/);
      await expectCode(store.broadcast({ from: 'a', content: '01234567890' }), 'PAYLOAD_TOO_LARGE');
    });

    it('poll without after returns each message once and moves the cursor; next_cursor is always present', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      const empty = await store.poll({ agent_id: 'b', timeout_ms: 0 });
      expect(empty).toMatchObject({ messages: [], next_cursor: 0, has_more: false, channel: 'default' });
      for (const content of ['1', '2', '3']) await store.sendMessage({ from: 'a', to: 'b', content });
      const first = await store.poll({ agent_id: 'b', timeout_ms: 0, limit: 2 });
      expect(first.messages.map((m) => m.content)).toEqual(['1', '2']);
      expect(first.has_more).toBe(true);
      expect(first.next_cursor).toBe(first.messages[1]?.id);
      const second = await store.poll({ agent_id: 'b', timeout_ms: 0 });
      expect(second.messages.map((m) => m.content)).toEqual(['3']);
      const third = await store.poll({ agent_id: 'b', timeout_ms: 0 });
      expect(third.messages).toEqual([]);
      expect(third.next_cursor).toBe(second.next_cursor);
      expect(first.messages[0]).toMatchObject({ from: 'a', to: 'b', channel: 'default', kind: 'direct', group: null });
    });

    it('poll with after acknowledges up to it and redelivers the rest until acknowledged (at-least-once)', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      for (const content of ['1', '2', '3']) await store.sendMessage({ from: 'a', to: 'b', content });
      const got = await store.poll({ agent_id: 'b', after: 0, timeout_ms: 0 });
      expect(got.messages.map((m) => m.content)).toEqual(['1', '2', '3']);
      // The poller "crashed" before handling: the same messages come again.
      const again = await store.poll({ agent_id: 'b', after: 0, timeout_ms: 0 });
      expect(again.messages.map((m) => m.content)).toEqual(['1', '2', '3']);
      // It handled the first one and acknowledges it.
      const firstId = got.messages[0]?.id ?? -1;
      const rest = await store.poll({ agent_id: 'b', after: firstId, timeout_ms: 0 });
      expect(rest.messages.map((m) => m.content)).toEqual(['2', '3']);
      // Acknowledged messages are past the cursor for plain polls too, and the
      // cursor never moves back.
      const plain = await store.poll({ agent_id: 'b', timeout_ms: 0 });
      expect(plain.messages.map((m) => m.content)).toEqual(['2', '3']);
      expect((await store.poll({ agent_id: 'b', timeout_ms: 0 })).messages).toEqual([]);
      expect((await store.poll({ agent_id: 'b', after: firstId, timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['2', '3']);
      await expectCode(store.poll({ agent_id: 'b', after: 1_000_000, timeout_ms: 0 }), 'BAD_REQUEST');
    });

    it('never returns a message twice to a poller that acknowledges with next_cursor', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      const seen: string[] = [];
      let cursor = 0;
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 7; i++) await store.sendMessage({ from: 'a', to: 'b', content: `${round}-${i}` });
        for (;;) {
          const page = await store.poll({ agent_id: 'b', after: cursor, limit: 3, timeout_ms: 0 });
          seen.push(...page.messages.map((m) => m.content));
          cursor = page.next_cursor;
          if (!page.has_more) break;
        }
      }
      expect(seen).toHaveLength(35);
      expect(new Set(seen).size).toBe(35);
    });

    it('long-poll returns promptly when a message arrives, and empty at the timeout', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b']);
      const started = performance.now();
      let sentAt = 0;
      const polling = store.poll({ agent_id: 'b', timeout_ms: 10_000 });
      setTimeout(() => {
        sentAt = performance.now();
        void store.sendMessage({ from: 'a', to: 'b', content: 'wake up' });
      }, 50);
      const result = await polling;
      const wake = performance.now() - sentAt;
      report(`coord long-poll wake latency (${store.kind}): ${wake.toFixed(2)} ms after the send`);
      expect(result.messages.map((m) => m.content)).toEqual(['wake up']);
      expect(wake).toBeLessThan(1000);
      expect(performance.now() - started).toBeLessThan(5000);

      const t0 = performance.now();
      const timedOut = await store.poll({ agent_id: 'b', timeout_ms: 150 });
      expect(timedOut.messages).toEqual([]);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    });

    it('caps the poll timeout at poll_timeout_max and stops waiting when the signal aborts', async () => {
      const store = await stores.store({ poll_timeout_max: 0.1 });
      await registerAll(store, ['b']);
      const t0 = performance.now();
      await store.poll({ agent_id: 'b', timeout_ms: 60_000 });
      expect(performance.now() - t0).toBeLessThan(2000);

      const patient = await stores.store();
      await registerAll(patient, ['b']);
      const abort = new AbortController();
      const polling = patient.poll({ agent_id: 'b', timeout_ms: 60_000, signal: abort.signal });
      setTimeout(() => abort.abort(), 20);
      expect((await polling).messages).toEqual([]);
    });

    it('broadcasts to every agent of the channel (or one group) except the sender, and to no other channel', async () => {
      const store = await stores.store();
      await store.registerAgent({ agent_id: 'lead', role: 'lead', group: 'hr' });
      await store.registerAgent({ agent_id: 'h1', role: 'w', group: 'hr' });
      await store.registerAgent({ agent_id: 'h2', role: 'w', group: 'hr' });
      await store.registerAgent({ agent_id: 'it', role: 'w', group: 'it' });
      await store.registerAgent({ agent_id: 'far', role: 'w', channel: 'elsewhere' });
      const all = await store.broadcast({ from: 'lead', content: 'all hands' });
      expect(all.recipients).toEqual(['h1', 'h2', 'it']);
      const hr = await store.broadcast({ from: 'lead', content: 'hr only', group: 'hr' });
      expect(hr).toMatchObject({ group: 'hr', recipients: ['h1', 'h2'] });
      const it1 = await store.poll({ agent_id: 'it', timeout_ms: 0 });
      expect(it1.messages.map((m) => [m.content, m.kind, m.to])).toEqual([['all hands', 'broadcast', null]]);
      expect((await store.poll({ agent_id: 'h2', timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['all hands', 'hr only']);
      expect((await store.poll({ agent_id: 'lead', timeout_ms: 0 })).messages).toEqual([]);
      expect((await store.poll({ agent_id: 'far', channel: 'elsewhere', timeout_ms: 0 })).messages).toEqual([]);
    });

    it('history: DMs between two agents, group broadcasts and the channel, newest first with paging', async () => {
      const store = await stores.store();
      await store.registerAgent({ agent_id: 'a', role: 'r', group: 'g' });
      await store.registerAgent({ agent_id: 'b', role: 'r', group: 'g' });
      await store.registerAgent({ agent_id: 'c', role: 'r' });
      await store.sendMessage({ from: 'a', to: 'b', content: 'a>b 1' });
      await store.sendMessage({ from: 'b', to: 'a', content: 'b>a' });
      await store.sendMessage({ from: 'c', to: 'a', content: 'c>a' });
      await store.broadcast({ from: 'c', content: 'to g', group: 'g' });
      await store.sendMessage({ from: 'a', to: 'b', content: 'a>b 2' });
      const dm = await store.history({ agent_id: 'b', with_agent: 'a' });
      expect(dm.mode).toBe('dm');
      expect(dm.messages.map((m) => m.content)).toEqual(['a>b 2', 'b>a', 'a>b 1']);
      expect((await store.history({ group: 'g' })).messages.map((m) => m.content)).toEqual(['to g']);
      const channel = await store.history({ limit: 2 });
      expect(channel.messages.map((m) => m.content)).toEqual(['a>b 2', 'to g']);
      const older = await store.history({ limit: 10, before: channel.messages[1]?.id ?? 0 });
      expect(older.messages.map((m) => m.content)).toEqual(['c>a', 'b>a', 'a>b 1']);
      expect(dm).not.toHaveProperty('agent_id');
      await expectCode(store.history({ with_agent: 'a' }), 'BAD_REQUEST');
      // History reads never move a cursor.
      expect((await store.poll({ agent_id: 'b', timeout_ms: 0 })).messages).toHaveLength(3);
    });

    it('history as an agent: only what it sent or received, in the channel or one group', async () => {
      const store = await stores.store();
      await registerAll(store, ['a', 'b'], { group: 'g' });
      await registerAll(store, ['c']);
      await registerAll(store, ['d'], { group: 'h' });
      await registerAll(store, ['far', 'near'], { channel: 'elsewhere' });
      for (const [from, to] of [
        ['a', 'b'],
        ['b', 'a'],
        ['c', 'b'],
      ] as const)
        await store.sendMessage({ from, to, content: `${from}>${to}` });
      await store.broadcast({ from: 'c', content: 'to g', group: 'g' });
      await store.broadcast({ from: 'c', content: 'to h', group: 'h' });
      await store.broadcast({ from: 'a', content: 'a to all' });
      await store.broadcast({ from: 'c', content: 'c to all' });
      await store.sendMessage({ from: 'far', to: 'near', content: 'far>near', channel: 'elsewhere' });

      const asA = await store.history({ agent_id: 'a' });
      expect(asA).toMatchObject({ mode: 'channel', channel: 'default', agent_id: 'a' });
      expect(asA.messages.map((m) => m.content)).toEqual(['c to all', 'a to all', 'to g', 'b>a', 'a>b']);
      const asD = await store.history({ agent_id: 'd' });
      expect(asD.messages.map((m) => m.content)).toEqual(['c to all', 'a to all', 'to h']);
      const page = await store.history({ agent_id: 'a', limit: 2 });
      expect(page.messages.map((m) => m.content)).toEqual(['c to all', 'a to all']);
      const older = await store.history({ agent_id: 'a', before: page.messages[1]?.id ?? 0 });
      expect(older.messages.map((m) => m.content)).toEqual(['to g', 'b>a', 'a>b']);

      const groupAsA = await store.history({ agent_id: 'a', group: 'g' });
      expect(groupAsA).toMatchObject({ mode: 'group', agent_id: 'a' });
      expect(groupAsA.messages.map((m) => m.content)).toEqual(['to g']);
      expect((await store.history({ agent_id: 'c', group: 'g' })).messages.map((m) => m.content)).toEqual(['to g']); // its sender
      expect((await store.history({ agent_id: 'd', group: 'g' })).messages).toEqual([]);

      // Another channel: only what the agent sent or received there.
      expect((await store.history({ agent_id: 'far', channel: 'elsewhere' })).messages.map((m) => m.content)).toEqual(['far>near']);
      expect((await store.history({ agent_id: 'a', channel: 'elsewhere' })).messages).toEqual([]);
      expect((await store.history({ agent_id: 'far' })).messages).toEqual([]);
      await expectCode(store.history({ agent_id: ' a' }), 'BAD_REQUEST');
    });

    it('rings a registered webhook with a small notice (no content) after the send, with retries', async () => {
      const rx = await receiver([500]); // the first attempt fails
      try {
        const store = await stores.store({ allow_private_webhooks: true, webhook_backoff: 0.01 });
        await store.registerAgent({ agent_id: 'sender', role: 'r' });
        await store.registerAgent({ agent_id: 'bell', role: 'r', webhook_url: rx.url });
        const sent = await store.sendMessage({ from: 'sender', to: 'bell', content: 'secret payload' });
        expect(sent.doorbells).toBe(1);
        await rx.received(2);
        const notice = rx.bodies[1];
        expect(notice).toMatchObject({ type: 'doorbell', agent_id: 'bell', channel: 'default', message_id: sent.id, from: 'sender', kind: 'direct' });
        expect(JSON.stringify(notice)).not.toContain('secret payload');
      } finally {
        await rx.close();
      }
    });

    it('never lets a dead webhook block or fail a send', async () => {
      const rx = await receiver();
      const deadUrl = rx.url;
      await rx.close(); // nothing listens there any more
      const store = await stores.store({ allow_private_webhooks: true, webhook_backoff: 5, webhook_retries: 3 });
      await registerAll(store, ['a']);
      await store.registerAgent({ agent_id: 'b', role: 'r', webhook_url: deadUrl });
      const t0 = performance.now();
      for (let i = 0; i < 20; i++) await store.sendMessage({ from: 'a', to: 'b', content: `m${i}` });
      expect(performance.now() - t0).toBeLessThan(2000);
      expect((await store.poll({ agent_id: 'b', timeout_ms: 0 })).messages).toHaveLength(20);
    });
  });
}
