/*
 * Work claims at scale, on the real SQLite store (a WAL file, as the gateway
 * opens it): what an announce and a read-only check cost as the number of
 * live claims in one channel and repo grows (every announce scores the new
 * claim against each of them, globs included), and what the unread count
 * that every coord tool answer carries in `_meta` costs as an inbox fills.
 *
 *   node dist/bench/benches/claims.js [--quick]   alone (prints the tables)
 *   node dist/bench/run.js claims                 from the registry
 */
import { join } from 'node:path';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import type { Bench, BenchContext, BenchReport } from '../bench.js';
import { runAlone } from '../lib/run-alone.js';
import { fmt, quantile } from '../lib/stats.js';
import type { Table } from '../lib/table.js';

const MODULES = ['auth', 'billing', 'search', 'api', 'db', 'ui', 'jobs', 'mail'];

/** Three paths of claim `i`: two files and a glob, spread over modules and folders. */
function pathsOf(i: number): string[] {
  const module = MODULES[i % MODULES.length] ?? 'auth';
  return [`src/${module}/f${i}.ts`, `src/${module}/sub${i % 17}/g${i}.ts`, `test/${module}/case${i % 31}/**`];
}

async function timed<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const value = await fn();
  samples.push(performance.now() - t0);
  return value;
}

const row = (label: string, samples: number[]): string[] => [label, fmt(quantile(samples, 0.5)), fmt(quantile(samples, 0.99)), String(samples.length)];

/** Announce, check and release against `live` standing claims. */
async function claimsAt(store: CoordStore, live: number, rounds: number): Promise<string[][]> {
  for (let i = 0; i < live; i += 1)
    await store.announceClaim({
      agent_id: `holder-${i % 40}`,
      paths: pathsOf(i),
      depends_on: [`src/${MODULES[(i + 1) % MODULES.length]}/types.ts`],
      intent: `work ${i}`,
      repo: 'bench',
      ttl_seconds: 3600,
    });
  const announce: number[] = [];
  const check: number[] = [];
  for (let r = 0; r < rounds; r += 1) {
    const paths = pathsOf(r * 7 + 3);
    await timed(check, () => store.checkClaims({ paths, repo: 'bench', agent_id: 'newcomer' }));
    const { claim } = await timed(announce, () => store.announceClaim({ agent_id: 'newcomer', paths, intent: 'bench', repo: 'bench' }));
    await store.releaseClaim({ claim_id: claim.id, agent_id: 'newcomer' });
  }
  return [row(`announce, ${live} live claims`, announce), row(`check, ${live} live claims`, check)];
}

/** The unread count with `waiting` messages past the cursor. */
async function unreadAt(store: CoordStore, waiting: number, rounds: number): Promise<string[]> {
  const agent = `reader-${waiting}`;
  await store.registerAgent({ agent_id: agent, role: 'r', channel: 'unread' });
  await store.registerAgent({ agent_id: `writer-${waiting}`, role: 'w', channel: 'unread' });
  for (let i = 0; i < waiting; i += 1) await store.sendMessage({ from: `writer-${waiting}`, to: agent, content: `m${i}`, channel: 'unread' });
  const samples: number[] = [];
  for (let r = 0; r < rounds; r += 1) {
    const n = await timed(samples, () => store.unreadCount(agent));
    if (n !== waiting) throw new Error(`unread count ${n}, expected ${waiting}`);
  }
  return row(`unread count, ${waiting} waiting`, samples);
}

export const claimsBench: Bench = {
  name: 'claims',
  description: 'work claims on the SQLite store: announce/check latency vs live claims, and the _meta unread count vs inbox size',
  timeoutMs: 300_000,
  async run(ctx: BenchContext): Promise<BenchReport> {
    const quick = ctx.options.quick;
    const sizes = quick ? [10, 100] : [10, 100, 1000];
    const rounds = quick ? 30 : 200;
    const claimRows: string[][] = [];
    for (const live of sizes) {
      const store = openSqliteStore(join(ctx.tmp, `claims-${live}.db`));
      try {
        ctx.log(`claims: ${live} live claims`);
        claimRows.push(...(await claimsAt(store, live, rounds)));
      } finally {
        await store.close();
      }
    }
    const unreadRows: string[][] = [];
    const store = openSqliteStore(join(ctx.tmp, 'unread.db'));
    try {
      for (const waiting of quick ? [0, 100] : [0, 100, 10_000]) unreadRows.push(await unreadAt(store, waiting, rounds));
    } finally {
      await store.close();
    }
    const columns = ['operation', 'p50 ms', 'p99 ms', 'n'];
    const tables: Table[] = [
      {
        title: 'Work claims: store latency vs live claims in one channel and repo',
        columns,
        rows: claimRows,
        note: 'Each live claim has two files and a glob plus a dependency; the announce is scored against all of them, committed, then released (release not timed).',
      },
      { title: 'The unread count behind every coord tool answer (_meta.unread)', columns, rows: unreadRows },
    ];
    return {
      tables,
      notes: ['In-process calls on a SQLite WAL file (synchronous = NORMAL), as the gateway opens the store; MCP and HTTP add their own cost on top.'],
      targets: [],
    };
  },
};

runAlone(claimsBench, import.meta.url);
