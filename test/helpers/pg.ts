import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { LISTENER_APPLICATION_NAME } from '../../kit/pg-listener.js';
import { q, type RunningGateway, startGateway } from './harness.js';

/** A gateway's config with coordination on the PostgreSQL at `url` (a pool of 8). */
export function pgCoordinationToml(url: string): string {
  return `\n[store]\nurl = ${q(url)}\npool_size = 8\n\n[coordination]\nenabled = true\n`;
}

/** A gateway with coordination on the database at `url` and a client of that database, for `fn`; both stopped after it. */
export async function withPgGateway(url: string, fn: (gw: RunningGateway, client: pg.Client) => Promise<void>): Promise<void> {
  const gw = await startGateway(pgCoordinationToml(url));
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await fn(gw, client);
  } finally {
    await client.end();
    await gw.stop();
  }
}

/** The shared PostgreSQL's superuser URL, or '' (test/helpers/pg-global-setup.ts). */
export function pgServerUrl(): string {
  return inject('pgUrl');
}

/** `describe` for suites that need PostgreSQL: skipped, with the reason, only outside CI when none could be had. */
export function describePg(name: string, body: () => void): void {
  const missing = inject('pgMissing');
  // Without the postgres project's globalSetup nothing was provided: say so instead of skipping quietly.
  if (missing === undefined) throw new Error(`'${name}' needs PostgreSQL: list its file in POSTGRES in vitest.config.ts`);
  if (missing !== '') {
    describe.skip(`${name} (skipped: ${missing})`, body);
    return;
  }
  describe(name, body);
}

/** The URL of `database` on the shared server. */
function withDatabase(server: string, database: string): string {
  const url = new URL(server);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pgServerUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database of its own on the shared server; returns its URL and how to drop it. */
export async function createTestDatabase(prefix = 't'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name} STRATEGY FILE_COPY`));
  return {
    url: withDatabase(pgServerUrl(), name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/**
 * A database for the calling test file, created before its tests and dropped
 * after them. Call inside describePg; read `.url` in tests or hooks.
 */
export function useTestDatabase(prefix?: string): { readonly url: string } {
  let created: { url: string; drop: () => Promise<void> } | undefined;
  beforeAll(async () => {
    created = await createTestDatabase(prefix);
  });
  afterAll(async () => {
    await created?.drop();
  });
  return {
    get url(): string {
      if (created === undefined) throw new Error('the test database is created in beforeAll; read .url inside a test or hook');
      return created.url;
    },
  };
}

/** A fresh schema name, for one store inside a test database. */
export function freshSchema(prefix = 's'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** The server pids of the database's LISTEN connections (kit/pg-listener.ts names them), seen from `admin`. */
export async function listenerPids(admin: pg.Client): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()',
    [LISTENER_APPLICATION_NAME],
  );
  return rows.map((r) => r.pid);
}
