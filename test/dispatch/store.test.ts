import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { openPgPool } from '../../kit/pg-pool.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDispatchStore } from '../../src/store/dispatch-store.js';
import { GATEWAY_MIGRATIONS } from '../../src/store/migrations.js';
import { openPgDatabase, type PgGatewayDatabase } from '../../src/store/pg/database.js';
import { type PgDispatchOptions, PgDispatchStore } from '../../src/store/pg/dispatch-store.js';
import { describePg, freshSchema, useTestDatabase } from '../helpers/pg.js';
import { dispatchContract, pendingCall } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'dispatch-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dirs = 0;

dispatchContract('sqlite', async () => {
  const db = openDatabase(join(dir, String(dirs++)));
  return { store: new SqliteDispatchStore(db), close: async () => void db.close() };
});

describePg('PostgreSQL dispatch store', () => {
  const database = useTestDatabase('dispatch');
  const options = { leaseMs: 30_000, resultTtlMs: 3_600_000 };

  dispatchContract('postgres', async () => {
    const db = await openPgDatabase({ url: database.url, schema: freshSchema(), max: 4 });
    const store = new PgDispatchStore(db.pool, { ...options, instance: 'gw-1' });
    return {
      store,
      close: async () => {
        await store.close();
        await db.close();
      },
    };
  });

  /** Two gateways on one schema, each with its own clock. */
  const opened: PgGatewayDatabase[] = [];
  const stores: PgDispatchStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });
  async function gateways(schema: string, clock: { ms: number }): Promise<[PgDispatchStore, PgDispatchStore]> {
    const make = async (instance: string): Promise<PgDispatchStore> => {
      const db = await openPgDatabase({ url: database.url, schema, max: 2 });
      opened.push(db);
      const extra: Partial<PgDispatchOptions> = { now: () => clock.ms };
      const store = new PgDispatchStore(db.pool, { ...options, ...extra, instance });
      await store.listen({ url: database.url, schema });
      stores.push(store);
      return store;
    };
    return Promise.all([make('gw-a'), make('gw-b')]);
  }

  it('migrates once when several gateways open the same database at once', async () => {
    const schema = freshSchema();
    const dbs = await Promise.all(Array.from({ length: 4 }, () => openPgDatabase({ url: database.url, schema, max: 1 })));
    opened.push(...dbs);
    const versions = GATEWAY_MIGRATIONS.map((m) => m.version);
    expect(new Set(dbs.map((d) => d.schemaVersion))).toEqual(new Set([versions.length]));
    const pool = await openPgPool({ url: database.url, schema, max: 1 });
    const { rows } = await pool.query<{ version: number }>('SELECT version FROM stonegate_schema_version ORDER BY version');
    await pool.end();
    expect(rows.map((r) => r.version)).toEqual(versions);
  });

  it('leaves a live gateway’s running calls alone and interrupts a dead one’s after its lease', async () => {
    const clock = { ms: Date.parse('2026-06-10T04:00:00Z') };
    const [a, b] = await gateways(freshSchema(), clock);
    const onA = pendingCall(new Date(clock.ms).toISOString(), { state: 'running' });
    const onB = pendingCall(new Date(clock.ms).toISOString());
    await a.insert(onA);
    await b.insert(onB);
    // B starts (or sweeps) while A lives: A's call is not B's to interrupt.
    expect(await b.interruptUnfinished(clock.ms, options.resultTtlMs)).toBe(0);
    // A keeps renewing; after more than a lease, its call is still vouched for.
    clock.ms += 20_000;
    await a.tick();
    clock.ms += 20_000;
    expect(await b.tick()).toBe(0);
    expect((await b.get(onA.id))?.state).toBe('running');
    // A dies (stops renewing). One lease later B's sweep marks A's call, not its own.
    await a.close();
    clock.ms += options.leaseMs + 1;
    expect(await b.tick()).toBe(1);
    expect(await b.get(onA.id)).toMatchObject({ state: 'failed', error: { code: 'INTERRUPTED' }, expires_at: clock.ms + options.resultTtlMs });
    expect((await b.get(onB.id))?.state).toBe('pending');
  });

  it('lets only the owning gateway write a call’s outcome', async () => {
    const clock = { ms: Date.now() };
    const [a, b] = await gateways(freshSchema(), clock);
    const call = pendingCall(new Date(clock.ms).toISOString());
    await a.insert(call);
    await b.update({ ...call, state: 'complete', result: { content: [] } });
    expect((await a.get(call.id))?.state).toBe('pending');
    await a.update({ ...call, state: 'complete', result: { content: [] }, expires_at: clock.ms + 1000 });
    expect((await b.get(call.id))?.state).toBe('complete');
  });

  it('wakes a gateway awaiting a call when the gateway running it stores the outcome', async () => {
    const clock = { ms: Date.now() };
    const [a, b] = await gateways(freshSchema(), clock);
    const call = pendingCall(new Date(clock.ms).toISOString());
    await a.insert(call);
    // B awaits (far longer than the test may take: only the NOTIFY can end it in time).
    const waiting = b.waitFinished(call.id, 600_000);
    await a.update({ ...call, state: 'complete', result: { content: [] }, expires_at: clock.ms + 60_000 });
    await waiting;
    expect((await b.get(call.id))?.state).toBe('complete');
    // A finished call is not waited for at all.
    await b.waitFinished(call.id, 600_000);
  });

  it('[pg-speed] #31 announces an outcome after its commit, not from the statement that writes it (no database-wide NOTIFY lock over its flush)', async () => {
    const clock = { ms: Date.now() };
    const [a, b] = await gateways(freshSchema(), clock);
    const statements: string[] = [];
    for (const db of opened) {
      const query = db.pool.query.bind(db.pool) as (...args: unknown[]) => unknown;
      Object.assign(db.pool, {
        query: (...args: unknown[]) => {
          if (typeof args[0] === 'string') statements.push(args[0]);
          return query(...args);
        },
      });
    }
    const call = pendingCall(new Date(clock.ms).toISOString());
    await a.insert(call);
    const waiting = b.waitFinished(call.id, 600_000);
    await a.update({ ...call, state: 'complete', result: { content: [] }, expires_at: clock.ms + 60_000 });
    await waiting;
    const writes = statements.filter((s) => /\bUPDATE async_calls\b/.test(s));
    expect(writes.length).toBeGreaterThan(0);
    for (const s of writes) expect(s).not.toMatch(/pg_notify/);
    expect(statements.at(-1)).toMatch(/pg_notify/);
  });

  it('passes a cancel request to the gateway running the call', async () => {
    const clock = { ms: Date.now() };
    const [a, b] = await gateways(freshSchema(), clock);
    const asked = new Promise<string>((resolve) => a.onCancelRequest(resolve));
    await b.requestCancel('call_x');
    expect(await asked).toBe('call_x');
  });
});
