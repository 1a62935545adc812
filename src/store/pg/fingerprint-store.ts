import type pg from 'pg';
import type { Logger } from '../../log.js';
import type { GatewayDatabase } from '../database.js';
import type { FingerprintChange, FingerprintRecord, FingerprintStore } from '../fingerprints.js';
import { BACKENDS_CHANNEL, TOOLS_PAYLOAD, type ToolsListener } from './backends-channel.js';

/** Changes kept in memory per backend: as many as any reader asks for (GET /server/list shows 50). */
const KEPT = 50;

const COLUMNS = 'server, tool, fingerprint, first_seen, approved_fingerprint';

/** The writes of one listing (or one loose write), sent as one statement. */
interface Writes {
  first: FingerprintRecord[];
  seen: { server: string; tool: string; fingerprint: string }[];
  changes: (FingerprintChange & { server: string })[];
}

/*
 * One statement for a listing's writes: first sights (ON CONFLICT DO
 * NOTHING: a gateway that recorded the tool first keeps its fingerprint as
 * the approved one), definitions seen last, changes, and a NOTIFY per
 * backend at commit. A data-modifying CTE runs whether or not the SELECT
 * reads it.
 */
const WRITE = `WITH first AS (
    INSERT INTO tool_fingerprints (${COLUMNS})
    SELECT s, t, f, a, f FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(s, t, f, a)
    ON CONFLICT (server, tool) DO NOTHING RETURNING 1),
  seen AS (
    UPDATE tool_fingerprints AS r SET fingerprint = x.f FROM unnest($5::text[], $6::text[], $7::text[]) AS x(s, t, f)
    WHERE r.server = x.s AND r.tool = x.t RETURNING 1),
  changed AS (
    INSERT INTO tool_changes (server, tool, from_fingerprint, to_fingerprint, at)
    SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) RETURNING 1)
  SELECT pg_notify('${BACKENDS_CHANNEL}', '${TOOLS_PAYLOAD}' || s) FROM unnest($13::text[]) AS s`;

const APPROVE = `WITH approved AS (
    UPDATE tool_fingerprints SET fingerprint = $3, approved_fingerprint = $3 WHERE server = $1 AND tool = $2 RETURNING 1)
  SELECT pg_notify('${BACKENDS_CHANNEL}', '${TOOLS_PAYLOAD}' || $1::text)`;

/** How long refused writes wait before they are sent again ([pg-speed]; also at once when the listening connection is back). */
const RETRY_MS = 5_000;

/**
 * Tool fingerprints and approvals in the PostgreSQL of `[store] url`, so
 * every gateway on it agrees on which definition of a tool was approved.
 *
 * Reads are answered from an in-memory copy of the tables (loaded at open),
 * so applying a listing costs what it costs on SQLite and a refresh that
 * finds the same tools sends no query. The copy follows the database:
 * every write NOTIFYs `tools:<backend>` at commit on the channel runtime
 * backends use, and each gateway re-reads that backend's rows and re-judges
 * its listed tools (`onChange`); a lost listening connection re-reads
 * everything once it is back. Writes of a listing go behind, in order, one
 * statement per listing; an approval is awaited.
 *
 * Approval is decided by the database alone: a first sight is approved only
 * once its insert committed without finding another gateway's record (until
 * then the tool counts as unapproved, which withholds it for that one round
 * trip under pin_tools), and an approval names the fingerprint the approving
 * gateway shows, so a gateway whose backend shows another definition keeps
 * that one unapproved.
 */
export class PgFingerprintStore implements FingerprintStore, ToolsListener {
  readonly #pool: pg.Pool;
  readonly #logger: Logger | undefined;
  #records = new Map<string, Map<string, FingerprintRecord>>();
  readonly #changes = new Map<string, FingerprintChange[]>();
  /** The writes of the batch running now. */
  #batch: Writes | undefined;
  /** Writes and re-reads, one at a time in order, so a re-read never overtakes a write queued before it. */
  #queue: Promise<void> = Promise.resolve();
  readonly #listeners: ((server: string) => void)[] = [];
  /** Writes the database refused (down, unreachable): sent again after RETRY_MS, or once the listening connection is back (gap()). */
  readonly #failed: Writes[] = [];
  /** Refused writes sent again and not yet taken: they still wait (problem()) until the database takes them. */
  #resending = 0;
  /** The last write or re-read's error while the latest one failed (GET /health: problem()). */
  #error: string | undefined;
  /** [pg-speed] Sends refused writes again every RETRY_MS while there are any, also when the listening connection stayed up. */
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(pool: pg.Pool, logger: Logger | undefined) {
    this.#pool = pool;
    this.#logger = logger;
  }

  /**
   * Opens the store: copies data_dir's records the shared table lacks (so
   * moving to a shared store keeps what was approved there), then reads the
   * tables. Hand it to the listening channel before opening, so nothing
   * committed meanwhile is missed.
   */
  static async open(
    pool: pg.Pool,
    options: { local?: GatewayDatabase; logger?: Logger; attach?: (store: PgFingerprintStore) => void } = {},
  ): Promise<PgFingerprintStore> {
    const store = new PgFingerprintStore(pool, options.logger);
    options.attach?.(store);
    const local = options.local;
    await store.#enqueue(async () => {
      if (local !== undefined) await store.#seed(local);
      await store.#read();
    });
    return store;
  }

  get(server: string, tool: string): FingerprintRecord | undefined {
    const found = this.#records.get(server)?.get(tool);
    return found === undefined ? undefined : { ...found };
  }

  firstSight(record: FingerprintRecord): boolean {
    this.#writes().first.push({ ...record });
    return false; // approved once the database confirms it (#afterWrite re-reads and tells the listeners)
  }

  seen(server: string, tool: string, fingerprint: string): void {
    const record = this.#records.get(server)?.get(tool);
    if (record !== undefined) record.fingerprint = fingerprint;
    this.#writes().seen.push({ server, tool, fingerprint });
  }

  async approve(server: string, tool: string, fingerprint: string): Promise<void> {
    await this.#enqueue(async () => {
      await this.#pool.query(APPROVE, [server, tool, fingerprint]);
      await this.#read(server);
    });
  }

  list(server: string): FingerprintRecord[] {
    return [...(this.#records.get(server)?.values() ?? [])].sort((a, b) => (a.tool < b.tool ? -1 : a.tool > b.tool ? 1 : 0)).map((r) => ({ ...r }));
  }

  addChange(server: string, change: FingerprintChange): void {
    this.#keep(server, [change]);
    this.#writes().changes.push({ ...change, server });
  }

  changes(server: string, limit: number): FingerprintChange[] {
    return (this.#changes.get(server) ?? []).slice(-limit);
  }

  batch<T>(fn: () => T): T {
    if (this.#batch !== undefined) return fn();
    const writes: Writes = { first: [], seen: [], changes: [] };
    this.#batch = writes;
    try {
      return fn();
    } finally {
      this.#batch = undefined;
      this.#send(writes);
    }
  }

  onChange(listener: (server: string) => void): void {
    this.#listeners.push(listener);
  }

  /** Another gateway (or this one) changed a backend's records: re-read them, then re-judge. */
  changed(server: string): void {
    void this.#enqueue(async () => {
      await this.#read(server);
      this.#tell([server]);
    });
  }

  /**
   * The listening connection was lost and is back: the writes refused
   * meanwhile go again (a first sight is ON CONFLICT DO NOTHING, so sending
   * one twice is harmless), and, as notifications may be gone, everything is
   * re-read.
   */
  gap(): void {
    this.#resend();
    void this.#enqueue(async () => {
      await this.#read();
      this.#tell([...this.#records.keys()]);
    });
  }

  /** Waits for the writes queued so far (before the pool closes). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#queue;
  }

  /** Sends the refused writes again (a first sight is ON CONFLICT DO NOTHING, so sending one twice is harmless). */
  #resend(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    for (const writes of this.#failed.splice(0)) this.#send(writes, true);
  }

  /** Where a write goes: the running batch, or a batch of its own sent at the end of this tick. */
  #writes(): Writes {
    if (this.#batch !== undefined) return this.#batch;
    const writes: Writes = { first: [], seen: [], changes: [] };
    this.#batch = writes;
    queueMicrotask(() => {
      if (this.#batch === writes) this.#batch = undefined;
      this.#send(writes);
    });
    return writes;
  }

  #send(writes: Writes, again = false): void {
    const servers = [...new Set([...writes.first, ...writes.seen, ...writes.changes].map((w) => w.server))];
    if (servers.length === 0) return;
    const { first } = writes;
    if (again) this.#resending++;
    void this.#enqueue(async () => {
      try {
        await this.#write(writes, servers);
      } finally {
        if (again) this.#resending--;
      }
      // The database now decides each first sight (ours, or another gateway's record): re-read and re-judge.
      for (const server of servers) await this.#read(server);
      if (first.length > 0) this.#tell(servers);
    });
  }

  async #write(writes: Writes, servers: readonly string[]): Promise<void> {
    const { first, seen, changes } = writes;
    try {
      await this.#pool.query(WRITE, [
        first.map((r) => r.server),
        first.map((r) => r.tool),
        first.map((r) => r.fingerprint),
        first.map((r) => r.first_seen),
        seen.map((r) => r.server),
        seen.map((r) => r.tool),
        seen.map((r) => r.fingerprint),
        changes.map((c) => c.server),
        changes.map((c) => c.tool),
        changes.map((c) => c.from),
        changes.map((c) => c.to),
        changes.map((c) => c.at),
        servers,
      ]);
    } catch (error) {
      this.#failed.push(writes);
      // Not only when the listening connection comes back (gap()): a refusal that left it up is retried too.
      if (!this.#closed) this.#retry ??= setTimeout(() => this.#resend(), RETRY_MS).unref();
      throw error;
    }
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task);
    this.#queue = run.then(
      () => {
        this.#error = undefined;
      },
      (error: unknown) => {
        this.#error = (error as Error).message;
        this.#logger?.warn({ error: this.#error }, 'tool fingerprint store: a write or re-read failed');
      },
    );
    return run;
  }

  /** While writes wait to be sent again or the latest write or re-read failed: what GET /health says (its `fingerprints` check). */
  problem(): string | undefined {
    // A write sent again still waits until the database took it: a re-read queued before it may succeed first.
    const waiting = this.#failed.length + this.#resending;
    if (waiting > 0)
      return `${waiting} write(s) of tool fingerprints or approvals refused by the shared database wait to be sent again (every 5 s, and once its listening connection is back); other gateways do not see them until then`;
    if (this.#error !== undefined)
      return `the latest read or write of tool fingerprints in the shared database failed (${this.#error}); other gateways may not see this one's approvals`;
    return undefined;
  }

  #tell(servers: readonly string[]): void {
    for (const server of servers) for (const listener of this.#listeners) listener(server);
  }

  /** Re-reads one backend's records and last changes, or everyone's. */
  async #read(server?: string): Promise<void> {
    const where = server === undefined ? '' : 'WHERE server = $1';
    const args = server === undefined ? [] : [server];
    const [records, changes] = await Promise.all([
      this.#pool.query<FingerprintRecord>(`SELECT ${COLUMNS} FROM tool_fingerprints ${where}`, args),
      this.#pool.query<FingerprintChange & { server: string }>(
        `SELECT server, tool, "from", "to", at FROM (
           SELECT server, tool, from_fingerprint AS "from", to_fingerprint AS "to", at, id,
                  row_number() OVER (PARTITION BY server ORDER BY id DESC) AS n
           FROM tool_changes ${where}) c
         WHERE n <= ${KEPT} ORDER BY id`,
        args,
      ),
    ]);
    const byServer = new Map<string, Map<string, FingerprintRecord>>();
    for (const r of records.rows) {
      const tools = byServer.get(r.server) ?? new Map<string, FingerprintRecord>();
      tools.set(r.tool, r);
      byServer.set(r.server, tools);
    }
    if (server === undefined) {
      this.#records = byServer;
      this.#changes.clear();
    } else {
      this.#records.set(server, byServer.get(server) ?? new Map());
      this.#changes.delete(server);
    }
    for (const c of changes.rows) this.#keep(c.server, [{ tool: c.tool, from: c.from, to: c.to, at: c.at }]);
  }

  #keep(server: string, changes: readonly FingerprintChange[]): void {
    this.#changes.set(server, [...(this.#changes.get(server) ?? []), ...changes].slice(-KEPT));
  }

  /** Copies data_dir's records into the shared table where it has none (INSERT … ON CONFLICT DO NOTHING). */
  async #seed(local: GatewayDatabase): Promise<void> {
    const rows = local.prepare(`SELECT ${COLUMNS} FROM tool_fingerprints`).all() as FingerprintRecord[];
    if (rows.length === 0) return;
    await this.#pool.query(
      `INSERT INTO tool_fingerprints (${COLUMNS})
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) ON CONFLICT (server, tool) DO NOTHING`,
      [
        rows.map((r) => r.server),
        rows.map((r) => r.tool),
        rows.map((r) => r.fingerprint),
        rows.map((r) => r.first_seen),
        rows.map((r) => r.approved_fingerprint),
      ],
    );
  }
}
