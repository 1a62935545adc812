import pg from 'pg';

/** How to reach PostgreSQL: a URL, a pool size and, optionally, a schema of its own (tests, several stores in one database). */
export interface PgSettings {
  url: string;
  /** Connections in the pool. */
  max?: number;
  /** A schema to create and use instead of `public`. */
  schema?: string;
  /** Longest wait for a connection, new (handshake included) or from the pool (default CONNECT_TIMEOUT_MS). */
  connectTimeoutMs?: number;
  /** LISTEN on the process's one listening connection to `url` rather than one of its own (a gateway: kit/pg-listen-hub.ts). */
  sharedListen?: boolean;
}

/**
 * A database that accepts the connection but never answers, or a host that
 * drops packets, fails the wait after this long instead of hanging the start
 * (or a request) for good.
 */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Longest one statement may run before PostgreSQL cancels it ([pg-speed]):
 * every query of the stores is short (long polls wait in the gateway, not in
 * the database; retention deletes in batches), so a statement this long is
 * stuck (a lock held by a session gone astray) and its caller gets an error
 * instead of a hang.
 */
export const STATEMENT_TIMEOUT_MS = 30_000;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// int8 (COUNT, BIGINT ms timestamps, BIGSERIAL ids) as numbers: every value
// stored is below 2^53 (ms since the epoch, row counts, ids).
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Client options shared by the pool and the listening connection. */
export function clientConfig(settings: PgSettings): pg.ClientConfig {
  if (settings.schema !== undefined && !SCHEMA_NAME.test(settings.schema)) throw new Error(`invalid PostgreSQL schema name '${settings.schema}'`);
  return {
    connectionString: settings.url,
    connectionTimeoutMillis: settings.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    types,
    ...(settings.schema === undefined ? {} : { options: `-c search_path=${settings.schema}` }),
  };
}

/** Opens a pool (creating the schema when one is named). */
export async function openPgPool(settings: PgSettings): Promise<pg.Pool> {
  if (settings.schema !== undefined) {
    const admin = new pg.Client(clientConfig({ url: settings.url }));
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      // Serialized: concurrent IF NOT EXISTS can still collide in the catalog.
      await admin.query('BEGIN');
      await admin.query("SELECT pg_advisory_xact_lock(hashtext('stonegate schema ' || $1))", [settings.schema]);
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${settings.schema}`);
      await admin.query('COMMIT');
    } finally {
      await admin.end();
    }
  }
  // [pg-speed] No idle timeout: pg-pool arms a timer at every release and clears it at the next acquire (1-2 % of a busy
  // gateway's CPU, one acquire per batch of calls); a connection it opened stays open, at most `max` of them.
  const pool = new pg.Pool({ ...clientConfig(settings), max: settings.max ?? 10, idleTimeoutMillis: 0 });
  // An idle client's error (the server restarted) must not crash the process;
  // the pool drops the client and the next query opens a new one.
  pool.on('error', () => undefined);
  return pool;
}

/** SQLSTATEs worth retrying: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);

/** How a transaction starts and ends. */
export interface TransactionOptions {
  isolation?: string;
  /** SQL without parameters sent with BEGIN, in the same round trip. */
  begin?: string;
  /** SQL without parameters sent with COMMIT, in the same round trip; built once `fn` has run. */
  commit?: () => string;
}

/** Runs `fn` in one transaction on one client; retries on serialization failures and deadlocks. */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      // Without parameters node-pg uses the simple protocol, which runs several statements in one round trip.
      await client.query(`BEGIN ISOLATION LEVEL ${options.isolation ?? 'READ COMMITTED'};${options.begin ?? ''}`);
      const result = await fn(client);
      await client.query(`${options.commit?.() ?? ''};COMMIT`);
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (error as { code?: unknown }).code;
      if (attempt < 5 && typeof code === 'string' && RETRYABLE.has(code)) continue;
      throw error;
    } finally {
      client.release();
    }
  }
}
