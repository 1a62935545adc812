/*
 * The dashboard's read of coordination (GET /coord/board, issue #29 item
 * 4) on the real SQLite store: what one read of a busy channel costs — its
 * agents, its threads each scored against their claims, its live claims,
 * tasks and latest messages — as the channel grows, as a whole board and as
 * an agent viewer. The page reads a channel's board again after each event
 * of that channel, at most every 250 ms, so this is the gateway's cost of a
 * dashboard open on a busy channel.
 *
 *   node dist/bench/benches/board.js [--quick]   alone (prints the tables)
 *   node dist/bench/run.js board                 from the registry
 */
import { join } from 'node:path';
import { readBoard } from '../../backends/coord/board.js';
import { coordOptions } from '../../backends/coord/options.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import type { Bench, BenchContext, BenchReport } from '../bench.js';
import { runAlone } from '../lib/run-alone.js';
import { fmt, quantile } from '../lib/stats.js';
import type { Table } from '../lib/table.js';

const CHANNEL = 'busy';

interface Size {
  agents: number;
  /** Conflict threads, each opened by a second announce on a held file. */
  threads: number;
  /** Further live claims that conflict with nothing. */
  claims: number;
}

/** A channel of `size`: agents with states, conflict threads, claims, tasks and messages. */
async function fill(store: CoordStore, size: Size): Promise<void> {
  const agent = (i: number): string => `agent-${i % size.agents}`;
  for (let i = 0; i < size.agents; i += 1) {
    await store.registerAgent({ agent_id: agent(i), role: 'dev', channel: CHANNEL, group: `g${i % 4}` });
    await store.setAgentState({ agent_id: agent(i), state: i % 3 === 0 ? 'waiting' : 'working', waiting_for: 'a review', current_file: `src/m${i}/f.ts` });
  }
  for (let t = 0; t < size.threads; t += 1) {
    const path = `src/shared${t}/hot.ts`;
    await store.announceClaim({ agent_id: agent(2 * t), paths: [path], depends_on: [`src/shared${t}/types.ts`], intent: `first ${t}`, channel: CHANNEL });
    const second = await store.announceClaim({ agent_id: agent(2 * t + 1), paths: [path], intent: `second ${t}`, channel: CHANNEL });
    if (second.thread === null) throw new Error(`board bench: announce ${t} opened no thread`);
  }
  for (let c = 0; c < size.claims; c += 1)
    await store.announceClaim({ agent_id: agent(c), paths: [`src/own${c}/a.ts`, `test/own${c}/**`], intent: `own ${c}`, channel: CHANNEL });
  for (let i = 0; i < 20; i += 1) {
    await store.postTask({ description: `task ${i}`, posted_by: agent(i), channel: CHANNEL });
    await store.sendMessage({ from: agent(i), to: agent(i + 1), content: `message ${i}`, channel: CHANNEL });
  }
}

async function timed(samples: number[], fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await fn();
  samples.push(performance.now() - t0);
}

const row = (label: string, samples: number[]): string[] => [label, fmt(quantile(samples, 0.5)), fmt(quantile(samples, 0.99)), String(samples.length)];

export const boardBench: Bench = {
  name: 'board',
  description: "the dashboard's GET /coord/board on the SQLite store: one busy channel's read vs its agents, threads and claims",
  timeoutMs: 300_000,
  async run(ctx: BenchContext): Promise<BenchReport> {
    const quick = ctx.options.quick;
    const rounds = quick ? 20 : 200;
    const sizes: Size[] = quick
      ? [{ agents: 10, threads: 2, claims: 10 }]
      : [
          { agents: 10, threads: 2, claims: 10 },
          { agents: 50, threads: 10, claims: 100 },
          { agents: 200, threads: 50, claims: 500 },
        ];
    const options = coordOptions();
    const rows: string[][] = [];
    for (const size of sizes) {
      const store = openSqliteStore(join(ctx.tmp, `board-${size.agents}.db`), options);
      try {
        ctx.log(`board: ${size.agents} agents, ${size.threads} threads, ${size.claims + 2 * size.threads} claims`);
        await fill(store, size);
        const label = `${size.agents} agents, ${size.threads} threads, ${size.claims + 2 * size.threads} live claims`;
        const channel: number[] = [];
        const viewer: number[] = [];
        for (let r = 0; r < rounds; r += 1) {
          await timed(channel, () => readBoard(store, options, { channel: CHANNEL }, undefined));
          await timed(viewer, () => readBoard(store, options, { channel: CHANNEL }, 'agent-0'));
        }
        rows.push(row(`${label}: the channel (admin)`, channel), row(`${label}: as one agent`, viewer));
      } finally {
        await store.close();
      }
    }
    const table: Table = {
      title: "The dashboard's board of one channel (GET /coord/board?channel=), in the store",
      columns: ['channel, read as', 'p50 ms', 'p99 ms', 'n'],
      rows,
      note: "Each thread's first claim is scored against the thread's other claims only (not every live claim of the channel); an agent viewer lists only its own threads (one of them here).",
    };
    return {
      tables: [table],
      notes: [
        'In-process calls on a SQLite WAL file, as the gateway opens the store; HTTP and JSON add their own cost on top.',
        "Scoring each thread with a claim check against the channel's every live claim, as the board first did, took 515 ms p50 (1,233 ms p99) for 200 agents, 50 threads and 600 claims on the same machine (load about 20).",
      ],
      targets: [],
    };
  },
};

runAlone(boardBench, import.meta.url);
