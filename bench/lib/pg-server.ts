import pg from 'pg';
import { findPgBinaries, type PgCluster, startPgCluster } from '../../tools/pg-cluster.js';
import type { BenchContext } from '../bench.js';

/**
 * The PostgreSQL a bench runs on: STONEGATE_BENCH_PG_URL, or a throwaway
 * cluster with fsync on (as a real server runs), `settings` passed to it.
 */
export async function benchPostgres(ctx: BenchContext, bench: string, settings: string[] = []): Promise<{ url: string; cluster?: PgCluster }> {
  const given = process.env.STONEGATE_BENCH_PG_URL;
  if (given !== undefined && given !== '') return { url: given };
  const bin = findPgBinaries();
  if (bin === undefined) throw new Error(`${bench} needs PostgreSQL: install the postgresql package or set STONEGATE_BENCH_PG_URL`);
  ctx.log(`${bench}: starting a throwaway PostgreSQL from ${bin}`);
  const cluster = await startPgCluster(bin, { fsync: true, settings });
  return { url: cluster.url, cluster };
}

/** A fresh (dropped and created) database `name` on the server: its URL. */
export async function freshDatabase(server: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}
