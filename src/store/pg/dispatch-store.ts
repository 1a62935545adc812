import type pg from 'pg';
import { Notifier } from '../../../kit/notifier.js';
import { PgListener } from '../../../kit/pg-listener.js';
import type { PgSettings } from '../../../kit/pg-pool.js';
import { type AsyncCall, type CallFilter, COLUMNS, type DispatchStore, fromRow, INTERRUPTED_MESSAGE, type Row, toParams } from '../dispatch-store.js';

export interface PgDispatchOptions {
  /** This gateway process; it owns the calls it inserts. */
  instance: string;
  /** ms a gateway vouches for its unfinished calls; renewed every third of it. */
  leaseMs: number;
  /** ms a call interrupted by the sweep stays readable ([dispatch] result_ttl). */
  resultTtlMs: number;
  /** Milliseconds since the epoch; Date.now by default (tests move it). */
  now?: () => number;
}

const NAMES = COLUMNS.split(', ');
/** NOTIFY channel of call outcomes (`done:<id>`) and cancel requests (`cancel:<id>`). */
const CHANNEL = 'stonegate_calls';
const list = (names: readonly string[], from = 1): string => names.map((_, i) => `$${i + from}`).join(', ');
const values = (call: AsyncCall): unknown[] => {
  const row = toParams(call) as unknown as Record<string, unknown>;
  return NAMES.map((n) => row[n]);
};

/**
 * Async calls in the shared PostgreSQL. Several gateways write one table, so
 * a call records the gateway running it (`instance`) and a lease
 * (`lease_until`) that gateway renews while it lives. A gateway that dies
 * stops renewing; when the lease lapses any survivor's sweep (or a gateway
 * starting) marks the call failed/INTERRUPTED, as a restart does with SQLite.
 * Only the owning gateway writes a call's outcome. Outcomes (after their
 * commit) and cancel requests are NOTIFYed, so a gateway can await or
 * cancel a call that another one runs.
 */
export class PgDispatchStore implements DispatchStore {
  readonly #pool: pg.Pool;
  readonly #o: PgDispatchOptions;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  readonly #finished = new Notifier();
  #listener: PgListener | undefined;
  #cancel: ((id: string) => void) | undefined;
  #closed = false;

  constructor(pool: pg.Pool, options: PgDispatchOptions) {
    this.#pool = pool;
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#timer = setInterval(() => void this.tick().catch(() => undefined), Math.max(10, Math.floor(options.leaseMs / 3)));
    this.#timer.unref();
  }

  async insert(call: AsyncCall): Promise<void> {
    await this.#pool.query(`INSERT INTO async_calls (${COLUMNS}, instance, lease_until) VALUES (${list(NAMES)}, $${NAMES.length + 1}, $${NAMES.length + 2})`, [
      ...values(call),
      this.#o.instance,
      this.#now() + this.#o.leaseMs,
    ]);
  }

  async update(call: AsyncCall): Promise<void> {
    const set = NAMES.slice(1).map((n, i) => `${n} = $${i + 2}`);
    const finished = call.state !== 'pending' && call.state !== 'running';
    const sql = `UPDATE async_calls SET ${set.join(', ')}, lease_until = $${NAMES.length + 1} WHERE id = $1 AND instance = $${NAMES.length + 2}`;
    const updated = await this.#pool.query(sql, [...values(call), finished ? null : this.#now() + this.#o.leaseMs, this.#o.instance]);
    // A finished call is announced to gateways awaiting it once the outcome has committed ([pg-speed]: see #announce).
    if (finished && (updated.rowCount ?? 0) > 0) await this.#announce([call.id]);
  }

  /**
   * NOTIFYs `done:<id>` for calls whose outcome has committed. Not inside the
   * writing statement: PostgreSQL holds one database-wide lock from a
   * notifying transaction's pre-commit until its commit is flushed, so
   * outcomes (and every other notifying writer on the database, such as
   * coordination) would flush one at a time (kit/pg-announcer.ts has the
   * details). This statement writes nothing, so its commit waits for no
   * flush. If it fails, an outcome's write fails and is retried whole (and
   * announced then); calls a sweep interrupted are read by their waiters
   * when those time out.
   */
  async #announce(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#pool.query(`SELECT pg_notify('${CHANNEL}', 'done:' || id) FROM unnest($1::text[]) AS id`, [ids]);
  }

  async markRunning(calls: readonly Pick<AsyncCall, 'id' | 'started_at'>[]): Promise<void> {
    await this.#pool.query(
      `UPDATE async_calls a SET state = 'running', started_at = v.started_at
       FROM unnest($1::text[], $2::text[]) AS v(id, started_at) WHERE a.id = v.id AND a.state = 'pending' AND a.instance = $3`,
      [calls.map((c) => c.id), calls.map((c) => c.started_at), this.#o.instance],
    );
  }

  async get(id: string): Promise<AsyncCall | undefined> {
    const { rows } = await this.#pool.query<Row>(`SELECT ${COLUMNS} FROM async_calls WHERE id = $1`, [id]);
    return rows[0] === undefined ? undefined : fromRow(rows[0]);
  }

  async list(owner: string | null, limit: number, before?: string, filter: CallFilter = {}): Promise<AsyncCall[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (owner !== null) {
      params.push(owner);
      where.push(`owner = $${params.length}`);
    }
    if (before !== undefined) {
      params.push(before);
      where.push(`submitted_at < $${params.length}`);
    }
    if (filter.active === true) where.push("state IN ('pending', 'running')");
    if (filter.servers !== undefined) {
      params.push([...filter.servers]);
      where.push(`server = ANY($${params.length}::text[])`);
    }
    if (filter.now !== undefined) {
      params.push(filter.now);
      where.push(`(expires_at IS NULL OR expires_at > $${params.length})`);
    }
    params.push(limit);
    const sql = `SELECT ${COLUMNS} FROM async_calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY submitted_at DESC, id LIMIT $${params.length}`;
    return (await this.#pool.query<Row>(sql, params)).rows.map(fromRow);
  }

  async count(): Promise<number> {
    return (await this.#pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM async_calls')).rows[0]?.n ?? 0;
  }

  async expire(now: number): Promise<number> {
    return (await this.#pool.query('DELETE FROM async_calls WHERE expires_at IS NOT NULL AND expires_at <= $1', [now])).rowCount ?? 0;
  }

  /** Calls whose gateway stopped vouching for them (lease lapsed) become failed/INTERRUPTED; live gateways' calls are left alone. */
  async interruptUnfinished(now: number, ttlMs: number): Promise<number> {
    const result = await this.#pool.query<{ id: string }>(
      `UPDATE async_calls SET state = 'failed', error_code = 'INTERRUPTED', error_message = ${INTERRUPTED_MESSAGE},
         finished_at = $1, expires_at = $2, lease_until = NULL
       WHERE state IN ('pending', 'running') AND (lease_until IS NULL OR lease_until < $3) RETURNING id`,
      [new Date(now).toISOString(), now + ttlMs, now],
    );
    await this.#announce(result.rows.map((r) => r.id));
    return result.rowCount ?? 0;
  }

  /** Renews this gateway's leases, then interrupts calls of gateways that stopped renewing theirs. */
  async tick(): Promise<number> {
    if (this.#closed) return 0;
    const now = this.#now();
    await this.#pool.query(`UPDATE async_calls SET lease_until = $1 WHERE instance = $2 AND state IN ('pending', 'running')`, [
      now + this.#o.leaseMs,
      this.#o.instance,
    ]);
    return this.interruptUnfinished(now, this.#o.resultTtlMs);
  }

  /** Opens the connection that hears other gateways' outcomes and cancel requests (for waitFinished and onCancelRequest). */
  async listen(settings: PgSettings): Promise<void> {
    this.#listener = await PgListener.open(
      settings,
      CHANNEL,
      (payload) => {
        const colon = payload.indexOf(':');
        const [kind, id] = [payload.slice(0, colon), payload.slice(colon + 1)];
        if (kind === 'done') this.#finished.notify(id);
        else if (kind === 'cancel') this.#cancel?.(id);
      },
      () => undefined,
    );
  }

  async waitFinished(id: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    // Registered before the re-read, so an outcome stored in between is not missed.
    const stop = new AbortController();
    const abort = (): void => stop.abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      const woken = this.#finished.wait(id, timeoutMs, stop.signal);
      const now = await this.get(id);
      if (now !== undefined && (now.state === 'pending' || now.state === 'running')) await woken;
    } finally {
      stop.abort();
      signal?.removeEventListener('abort', abort);
    }
  }

  async requestCancel(id: string): Promise<void> {
    await this.#pool.query('SELECT pg_notify($1, $2)', [CHANNEL, `cancel:${id}`]);
  }

  onCancelRequest(cancel: (id: string) => void): void {
    this.#cancel = cancel;
  }

  /** Stops renewing and listening; the pool belongs to the caller. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#finished.close();
    await this.#listener?.close();
  }
}
