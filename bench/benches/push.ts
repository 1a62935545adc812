/*
 * [coord-push] How soon a coordination message reaches another agent's MCP
 * session by push, beside the long poll it replaces: one gateway (only the
 * built-in coord), a sender session calling coord__mux_send on /mcp, and a
 * receiver that is, in turn,
 *
 * - a 2025 session subscribed to coord://inbox/{rx} (notifications/resources/updated),
 * - a 2025 session that declared claude/channel (notifications/claude/channel),
 * - a 2026-07-28 client's subscriptions/listen stream naming coord://inbox/{rx},
 * - a 2025 session parked in coord__mux_poll (the long-poll wake, the reference).
 *
 * Each round times the send's start (and its answer) to the receiver's
 * notification or poll answer; the modes take turns round by round. The push path reads the store's event
 * stream once per gateway, so it pays one more hop than the poll, which the
 * send's own transaction answers.
 *
 *   node dist/bench/benches/push.js [--quick]   alone (prints the tables)
 *   node dist/bench/run.js push                 from the registry
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Bench, BenchContext, BenchReport } from '../bench.js';
import { coordUp } from '../coord.js';
import { runAlone } from '../lib/run-alone.js';
import { fmt, quantile } from '../lib/stats.js';
import { startStonegate } from '../lib/stonegate.js';
import type { Table } from '../lib/table.js';

type Mode = 'resource subscription (2025)' | 'claude/channel (2025)' | 'subscriptions/listen (2026-07-28)' | 'long poll mux_poll (2025)';
const MODES: readonly Mode[] = ['resource subscription (2025)', 'claude/channel (2025)', 'subscriptions/listen (2026-07-28)', 'long poll mux_poll (2025)'];

async function connect(url: string, name: string, options: { channel?: boolean; modern?: boolean } = {}): Promise<Client> {
  const client = new Client(
    { name, version: '1' },
    {
      capabilities: options.channel === true ? { experimental: { 'claude/channel': {} } } : {},
      ...(options.modern === true ? { versionNegotiation: { mode: { pin: '2026-07-28' as const } } } : {}),
    },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  return client;
}

async function tool(client: Client, name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const result = await client.callTool({ name: `coord__${name}`, arguments: args });
  if (result.isError === true) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
  return (result.structuredContent ?? {}) as Record<string, unknown>;
}

interface Row {
  mode: Mode;
  fromSend: number[];
  afterAck: number[];
}

/** A sender and a receiver in one mode, ready for rounds. */
interface Pair {
  row: Row;
  round(i: number): Promise<void>;
  close(): Promise<void>;
}

/** Connects tx and rx for `mode`: each round sends from tx to rx, timed to rx's notification (or poll answer). */
async function pair(url: string, mode: Mode, tag: string): Promise<Pair> {
  const [tx, rx] = [`${tag}-tx`, `${tag}-rx`];
  const sender = await connect(url, tx);
  const receiver = await connect(url, rx, { channel: mode === 'claude/channel (2025)', modern: mode === 'subscriptions/listen (2026-07-28)' });
  const row: Row = { mode, fromSend: [], afterAck: [] };
  await tool(sender, 'mux_register', { agent_id: tx, role: 'bench', channel: tag });
  // Without tokens a session is the agent it registers (claude/channel), or the inbox it subscribes to.
  await tool(receiver, 'mux_register', { agent_id: rx, role: 'bench', channel: tag });
  let heard: (() => void) | undefined;
  const onPush = async (): Promise<void> => heard?.();
  receiver.setNotificationHandler('notifications/resources/updated', onPush);
  receiver.fallbackNotificationHandler = onPush;
  let subscription: { close(): Promise<void> } | undefined;
  if (mode === 'resource subscription (2025)') await receiver.subscribeResource({ uri: `coord://inbox/${rx}` });
  if (mode === 'subscriptions/listen (2026-07-28)') subscription = await receiver.listen({ resourceSubscriptions: [`coord://inbox/${rx}`] });
  const round = async (i: number): Promise<void> => {
    let arrivedAt = 0;
    let arrived: Promise<unknown>;
    if (mode === 'long poll mux_poll (2025)') {
      arrived = tool(receiver, 'mux_poll', { agent_id: rx, channel: tag, timeout: 10 }).then(() => (arrivedAt = performance.now()));
      // Nothing observable says the poll is parked; 10 ms is ample on loopback (as the coord bench's wake rows).
      await new Promise((r) => setTimeout(r, 10));
    } else {
      arrived = new Promise<void>((resolve) => {
        heard = () => {
          heard = undefined;
          arrivedAt = performance.now();
          resolve();
        };
      });
    }
    const t0 = performance.now();
    await tool(sender, 'mux_send', { from: tx, to: rx, content: `push-${i}`, channel: tag });
    const acked = performance.now();
    await arrived;
    row.fromSend.push(arrivedAt - t0);
    row.afterAck.push(arrivedAt - acked);
    // Keep the inbox empty so every round reads the same (a poll acknowledges; the push modes do not read).
    if (mode !== 'long poll mux_poll (2025)') await tool(receiver, 'mux_poll', { agent_id: rx, channel: tag, timeout: 0 });
  };
  const close = async (): Promise<void> => {
    await subscription?.close().catch(() => undefined);
    await Promise.all([sender.close(), receiver.close()].map((p) => p.catch(() => undefined)));
  };
  return { row, round, close };
}

/** `rounds` rounds of every mode, interleaved round by round so that the machine's load falls on every mode alike. */
async function measure(url: string, rounds: number, tag: string, signal: AbortSignal): Promise<Row[]> {
  const pairs: Pair[] = [];
  try {
    for (const [i, mode] of MODES.entries()) pairs.push(await pair(url, mode, `${tag}${i}`));
    for (let i = 0; i < rounds; i += 1) {
      if (signal.aborted) throw new Error('bench time bound reached');
      for (const p of pairs) await p.round(i);
    }
    return pairs.map((p) => p.row);
  } finally {
    await Promise.all(pairs.map((p) => p.close()));
  }
}

export const pushBench: Bench = {
  name: 'push',
  description:
    'coordination push into MCP sessions: send → notification p50/p99 (resource subscription, claude/channel, subscriptions/listen) beside the long-poll wake',
  timeoutMs: 10 * 60_000,
  async run(ctx: BenchContext): Promise<BenchReport> {
    const rounds = ctx.options.quick ? 30 : 300;
    const gateway = await startStonegate(ctx, { backends: [] }, 'stonegate-push');
    await coordUp(gateway.url);
    // A warm-up pass, then the measured one.
    await measure(gateway.url, Math.min(rounds, 50), 'warm', ctx.signal);
    const rows = await measure(gateway.url, rounds, 'push', ctx.signal);
    for (const row of rows) ctx.log(`push: ${row.mode} p50 ${fmt(quantile(row.fromSend, 0.5))} ms`);
    const table: Table = {
      title: `Send → arrival in another session, ${rounds} rounds per mode, the modes interleaved round by round (coord__mux_send over /mcp, SDK clients)`,
      columns: ['receiver', 'from send p50 ms', 'from send p99 ms', 'after send answer p50 ms', 'after send answer p99 ms'],
      rows: rows.map((r) => [
        r.mode,
        fmt(quantile(r.fromSend, 0.5)),
        fmt(quantile(r.fromSend, 0.99)),
        fmt(quantile(r.afterAck, 0.5)),
        fmt(quantile(r.afterAck, 0.99)),
      ]),
      note: '"after send answer" is negative when the receiver heard before the sender had its answer.',
    };
    return {
      tables: [table],
      notes: [
        'One gateway with only the built-in coord (SQLite), no tokens; every client on loopback. The push modes wait on a notification; the long poll parks 10 ms before each send.',
      ],
      targets: [],
    };
  },
};

runAlone(pushBench, import.meta.url);
