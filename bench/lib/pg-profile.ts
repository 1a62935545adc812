/*
 * Where PostgreSQL spends during a bench run (coord-pg with
 * STONEGATE_BENCH_PG_PROFILE=1): the statements by total execution time
 * (pg_stat_statements, nested PL/pgSQL statements included) and what the
 * client backends wait on, sampled from pg_stat_activity every few ms.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { cpuTimeMs, descendants } from './processes.js';
import { fmt } from './stats.js';
import type { Table } from './table.js';

/** Settings a cluster needs for the profile (startPgCluster's `settings`). */
export const PROFILE_SETTINGS = [
  'shared_preload_libraries=pg_stat_statements',
  'pg_stat_statements.track=all',
  'pg_stat_statements.track_utility=on',
  'track_functions=all',
];

/** A profile in progress on one server; stop() returns its tables. */
export interface PgProfile {
  stop(label: string, messages: number): Promise<Table[]>;
}

const SAMPLE_MS = 5;

/** The server's processes by kind: client backends by database, the rest by title (walwriter, autovacuum worker, …). */
function processCpu(root: number | undefined): Map<number, { kind: string; ms: number; sysMs: number }> {
  const out = new Map<number, { kind: string; ms: number; sysMs: number }>();
  if (root === undefined) return out;
  for (const pid of descendants(root)) {
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
      // "postgres: postgres bench_one 127.0.0.1(5432) idle" → "backend bench_one"; "postgres: walwriter" → "walwriter".
      const rest = title.replace(/^postgres: /, '');
      const client = /^\S+ (\S+) (127\.0\.0\.1|\[local\])/.exec(rest);
      const kind =
        client !== null ? `backend ${client[1]}` : rest.replace(/ .*$/, '').replace(/^(autovacuum|logical)$/, (k) => `${k} ${rest.split(' ')[1] ?? ''}`);
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const sysMs = (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) * 1000) / 100;
      out.set(pid, { kind, ms: cpuTimeMs(pid), sysMs });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Resets the statistics of `database` and starts sampling waits; `url` is the superuser URL of that database, `root` the postmaster's pid. */
export async function startPgProfile(url: string, root: number | undefined): Promise<PgProfile> {
  const cpu0 = processCpu(root);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await client.query("SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')");
  const waits = new Map<string, number>();
  let samples = 0;
  let running = true;
  const sampling = (async () => {
    while (running) {
      const found = await client.query<{ w: string }>(
        `SELECT COALESCE(wait_event_type || ':' || wait_event, 'CPU') || ' (' || state || ')' AS w FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle' AND datname = current_database()`,
      );
      samples += 1;
      for (const r of found.rows) waits.set(r.w, (waits.get(r.w) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();
  return {
    async stop(label, messages) {
      running = false;
      await sampling;
      const byKind = new Map<string, [number, number]>();
      for (const [pid, now] of processCpu(root)) {
        const [ms, sys] = byKind.get(now.kind) ?? [0, 0];
        byKind.set(now.kind, [ms + now.ms - (cpu0.get(pid)?.ms ?? 0), sys + now.sysMs - (cpu0.get(pid)?.sysMs ?? 0)]);
      }
      const top = await client.query<{ query: string; calls: number; total: number; mean: number; wal: number }>(
        `SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, calls::float8 AS calls, total_exec_time AS total, mean_exec_time AS mean,
           wal_bytes::float8 AS wal FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY total_exec_time DESC LIMIT 20`,
      );
      const wal = await client.query<{ records: string; fpi: string; bytes: string; syncs: string; writes: string }>(
        'SELECT wal_records::text AS records, wal_fpi::text AS fpi, wal_bytes::text AS bytes, wal_sync::text AS syncs, wal_write::text AS writes FROM pg_stat_wal',
      );
      await client.end();
      const w = wal.rows[0];
      const per = (n: number): string => fmt(n / messages, 2);
      return [
        {
          title: `${label}: statements by total time (pg_stat_statements, nested included), ${messages} messages`,
          columns: ['statement', 'calls', 'calls/msg', 'total ms', 'mean ms', 'WAL B/call'],
          rows: top.rows.map((r) => [
            r.query.slice(0, 110),
            String(r.calls),
            per(r.calls),
            fmt(r.total, 0),
            fmt(r.mean, 3),
            fmt(r.wal / Math.max(r.calls, 1), 0),
          ]),
          note:
            w === undefined
              ? undefined
              : `pg_stat_wal over the run (every database): ${w.records} records, ${w.fpi} full pages, ${w.bytes} bytes, ${w.writes} writes, ${w.syncs} syncs.`,
        },
        {
          title: `${label}: what the client backends were doing (${samples} samples, one every ${SAMPLE_MS} ms)`,
          columns: ['wait (state)', 'backends per sample'],
          rows: [...waits.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, fmt(n / samples, 2)]),
        },
        {
          title: `${label}: PostgreSQL CPU by process kind (live at the end; µs per message)`,
          columns: ['process', 'CPU µs/msg', 'of which system'],
          rows: [...byKind.entries()]
            .filter(([, [ms]]) => ms > 0)
            .sort((a, b) => b[1][0] - a[1][0])
            .map(([k, [ms, sys]]) => [k, fmt((ms * 1000) / messages, 0), fmt((sys * 1000) / messages, 0)]),
        },
      ];
    },
  };
}
