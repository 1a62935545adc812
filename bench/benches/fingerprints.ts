import { fileURLToPath } from 'node:url';
import { BackendsChannel } from '../../src/store/pg/backends-channel.js';
import { openPgDatabase } from '../../src/store/pg/database.js';
import { PgFingerprintStore } from '../../src/store/pg/fingerprint-store.js';
import type { Bench, BenchContext, BenchReport } from '../bench.js';
import { TOOLS, tools } from '../lib/fingerprint-listing.js';
import { benchPostgres, freshDatabase } from '../lib/pg-server.js';
import { fmt, quantile } from '../lib/stats.js';
import type { Table } from '../lib/table.js';

/*
 * #31 [pg-speed]: what sharing tool fingerprints costs. Applying a listing
 * to the catalog (a backend's start or refresh) runs the fingerprint
 * store's reads and writes synchronously; a call only asks the catalog
 * whether a tool is held (a Map lookup, unchanged). So the listing is the
 * path to measure: per store, and for SQLite against another build
 * (STONEGATE_BENCH_PARENT_DIST=<that build's dist/>), each in a process of
 * its own (bench/lib/fingerprint-listing.ts), in alternating blocks. Then
 * how long an approval on one gateway takes to reach another.
 */

/** CPU µs per listing, round by round, for the three cases. */
type Samples = Record<'first' | 'same' | 'changed', number[]>;

/** One process applying listings to a catalog over one store of one build (bench/lib/fingerprint-listing.ts); its samples. */
async function listingProcess(ctx: BenchContext, dist: string, store: string, rounds: number, url: string): Promise<Samples> {
  const script = fileURLToPath(new URL('../lib/fingerprint-listing.js', import.meta.url));
  const child = ctx.processes.spawn(`fingerprint-listing ${store}`, process.execPath, [script, dist, store, String(rounds), url]);
  const { code } = await child.exited;
  const last = child.tail.at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`fingerprint-listing ${store} (${dist}) exited ${code}: ${child.tail.join(' | ')}`);
  return JSON.parse(last) as Samples;
}

async function pgStore(url: string): Promise<{ store: PgFingerprintStore; close: () => Promise<void> }> {
  const settings = { url, max: 4 };
  const db = await openPgDatabase(settings);
  const channel = await BackendsChannel.open(settings);
  const store = await PgFingerprintStore.open(db.pool, { attach: (s) => channel.onTools(s) });
  return {
    store,
    close: async () => {
      await channel.close();
      await store.close();
      await db.close();
    },
  };
}

export const fingerprintsBench: Bench = {
  name: 'fingerprints',
  description:
    'tool fingerprints (#31): applying a 200-tool listing per store (memory, SQLite, shared PostgreSQL), and an approval on one gateway reaching another',
  timeoutMs: 10 * 60_000,
  async run(ctx): Promise<BenchReport> {
    const blocks = ctx.options.quick ? 1 : 4;
    const rounds = ctx.options.quick ? 5 : 50;
    const thisDist = fileURLToPath(new URL('../..', import.meta.url));
    const builds = [{ name: 'this build', dist: thisDist }];
    const parent = process.env.STONEGATE_BENCH_PARENT_DIST;
    // The other build's rows are labelled STONEGATE_BENCH_PARENT_NAME (default: parent build).
    if (parent !== undefined && parent !== '') builds.push({ name: process.env.STONEGATE_BENCH_PARENT_NAME ?? 'parent build', dist: parent });
    const { url: server, cluster } = await benchPostgres(ctx, 'fingerprints');
    const notes: string[] = [];
    try {
      const url = await freshDatabase(server, `fp_bench_${process.pid}`);
      const variants = [
        ...builds.flatMap((b) => [
          { name: `memory (${b.name})`, dist: b.dist, store: 'memory' },
          { name: `SQLite data_dir (${b.name})`, dist: b.dist, store: 'sqlite' },
        ]),
        { name: 'PostgreSQL shared (this build; writes go behind)', dist: thisDist, store: 'postgres' },
      ];
      const samples = new Map<string, Samples>(variants.map((v) => [v.name, { first: [], same: [], changed: [] }]));
      for (let block = 0; block < blocks; block += 1) {
        // The order rotates each block, so no variant always runs after the same one.
        for (const v of variants.map((_, k) => variants[(k + block) % variants.length] as (typeof variants)[number])) {
          ctx.log(`fingerprints: block ${block + 1}/${blocks}, ${v.name}`);
          const got = await listingProcess(ctx, v.dist, v.store, rounds, url);
          const s = samples.get(v.name) as Samples;
          for (const c of ['first', 'same', 'changed'] as const) s[c].push(...got[c]);
        }
      }
      const cell = (xs: number[]): string => `${fmt(quantile(xs, 0.5), 0)} (${fmt(quantile(xs, 0.9), 0)})`;
      const listing: Table = {
        title: `Applying a listing of ${TOOLS} tools to the catalog (pin_tools on), CPU µs per listing: median (p90) of ${blocks} × ${rounds} rounds, one process per store and build`,
        columns: ['fingerprint store', 'first sight', 'same tools again (a refresh)', 'every tool changed'],
        leftColumns: [0],
        rows: variants.map((v) => {
          const s = samples.get(v.name) as Samples;
          return [v.name, cell(s.first), cell(s.same), cell(s.changed)];
        }),
        note: 'Most of a listing is the catalog itself (exposed names, the discover index), the same for every store. The shared store answers from its in-memory copy and writes behind (one statement per listing, awaited between listings and not counted); its first sight is approved once the insert commits.',
      };

      const [a, b] = [await pgStore(url), await pgStore(url)];
      try {
        // An approval on gateway A's store, until gateway B's store has re-read it (what releases the tool on B).
        let waiting: (() => void) | undefined;
        b.store.onChange((s) => {
          if (s === 'approvals') waiting?.();
        });
        const heardSeed = new Promise<void>((done) => {
          waiting = () => done();
        });
        const seeded = new Promise<void>((done) => a.store.onChange((s) => s === 'approvals' && done()));
        a.store.batch(() => {
          for (const t of tools(1))
            a.store.firstSight({ server: 'approvals', tool: t.name, fingerprint: 'f0', first_seen: new Date().toISOString(), approved_fingerprint: 'f0' });
        });
        await Promise.all([seeded, heardSeed]);
        const approveMs: number[] = [];
        const heardMs: number[] = [];
        const approvals = ctx.options.quick ? 10 : 300;
        for (let i = 0; i < approvals; i += 1) {
          const heard = new Promise<number>((done) => {
            waiting = () => done(performance.now());
          });
          const t0 = performance.now();
          await a.store.approve('approvals', `tool_${i % TOOLS}`, `f${i + 1}`);
          approveMs.push(performance.now() - t0);
          heardMs.push((await heard) - t0);
        }
        const row = (what: string, xs: number[]): string[] => [what, fmt(quantile(xs, 0.5)), fmt(quantile(xs, 0.9)), fmt(quantile(xs, 1))];
        const reach: Table = {
          title: `An approval on gateway A reaching gateway B (two stores on one PostgreSQL, ${approvals} approvals one after another), ms`,
          columns: ['step', 'p50', 'p90', 'max'],
          leftColumns: [0],
          rows: [
            row('approve on A answered (UPDATE + NOTIFY committed, A re-read)', approveMs),
            row("B has re-read it (NOTIFY heard, the backend's rows read)", heardMs),
          ],
        };
        notes.push(
          `PostgreSQL: ${cluster === undefined ? 'STONEGATE_BENCH_PG_URL' : 'a throwaway local cluster with fsync on'}. The approvals run in the bench process, two stores as two gateways open them (a pool and the listening channel each).`,
        );
        return { tables: [listing, reach], notes, targets: [] };
      } finally {
        await a.close();
        await b.close();
      }
    } finally {
      cluster?.stop();
    }
  },
};
