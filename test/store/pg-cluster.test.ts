import pg from 'pg';
import { expect, it } from 'vitest';
import { createTestDatabase, describePg, pgServerUrl } from '../helpers/pg.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describePg('the test PostgreSQL', () => {
  it('is a PostgreSQL 13 or newer (SKIP LOCKED, LISTEN/NOTIFY, gen_random_uuid)', async () => {
    const [row] = await query<{ v: string }>(pgServerUrl(), "SELECT current_setting('server_version_num') AS v");
    expect(Number(row?.v)).toBeGreaterThanOrEqual(130_000);
  });

  it('gives each caller an empty database of its own and drops it', async () => {
    const a = await createTestDatabase();
    const b = await createTestDatabase();
    expect(a.url).not.toBe(b.url);
    await query(a.url, 'CREATE TABLE only_in_a (x INT)');
    const tables = await query<{ n: string }>(b.url, "SELECT COUNT(*) AS n FROM pg_tables WHERE tablename = 'only_in_a'");
    expect(tables[0]?.n).toBe('0');
    await a.drop();
    await b.drop();
    const left = await query<{ datname: string }>(pgServerUrl(), 'SELECT datname FROM pg_database');
    const names = left.map((r) => r.datname);
    expect(names).not.toContain(new URL(a.url).pathname.slice(1));
    expect(names).not.toContain(new URL(b.url).pathname.slice(1));
  });
});
