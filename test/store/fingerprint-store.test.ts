import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { type FingerprintRecord, type FingerprintStore, SqliteFingerprintStore } from '../../src/store/fingerprints.js';
import { BackendsChannel } from '../../src/store/pg/backends-channel.js';
import { openPgDatabase } from '../../src/store/pg/database.js';
import { PgFingerprintStore } from '../../src/store/pg/fingerprint-store.js';
import { describePg, freshSchema, useTestDatabase } from '../helpers/pg.js';

// #31: the tool fingerprint store, on SQLite (data_dir) and on the shared
// PostgreSQL, where a store follows what other gateways write.

const record = (server: string, tool: string, fingerprint: string): FingerprintRecord => ({
  server,
  tool,
  fingerprint,
  first_seen: '2026-12-07T00:00:00.000Z',
  approved_fingerprint: fingerprint,
});

/** The servers a store's onChange reported, and a way to await the next report of one. */
function heard(store: FingerprintStore): { servers: string[]; next: (server: string) => Promise<void> } {
  const servers: string[] = [];
  const waiting: { server: string; resolve: () => void }[] = [];
  store.onChange?.((server) => {
    servers.push(server);
    for (const w of waiting.splice(0)) {
      if (w.server === server) w.resolve();
      else waiting.push(w);
    }
  });
  return { servers, next: (server) => new Promise<void>((resolve) => waiting.push({ server, resolve })) };
}

type Make = () => Promise<{ store: FingerprintStore; close: () => Promise<void> }>;

/** What every FingerprintStore does. `settled` waits until a write the store answered for is readable (PostgreSQL: confirmed). */
function fingerprintContract(name: string, make: Make, settled: (store: FingerprintStore, server: string) => Promise<void>): void {
  describe(`FingerprintStore contract: ${name}`, () => {
    const open: (() => Promise<void>)[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((close) => close()));
    });
    const fresh = async (): Promise<FingerprintStore> => {
      const { store, close } = await make();
      open.push(close);
      return store;
    };

    it('records a first sight as approved, a later sight as seen, and an approval of the definition seen', async () => {
      const store = await fresh();
      const server = `s${Math.random().toString(36).slice(2, 8)}`;
      const confirmed = settled(store, server);
      store.batch(() => {
        store.firstSight(record(server, 'read', 'f1'));
        store.firstSight(record(server, 'list', 'g1'));
      });
      await confirmed;
      expect(store.get(server, 'read')).toMatchObject({ fingerprint: 'f1', approved_fingerprint: 'f1' });
      expect(store.list(server).map((r) => r.tool)).toEqual(['list', 'read']);

      store.batch(() => {
        store.seen(server, 'read', 'f2');
        store.addChange(server, { tool: 'read', from: 'f1', to: 'f2', at: '2026-12-07T00:00:01.000Z' });
      });
      expect(store.get(server, 'read')).toMatchObject({ fingerprint: 'f2', approved_fingerprint: 'f1' });
      expect(store.changes(server, 50)).toEqual([{ tool: 'read', from: 'f1', to: 'f2', at: '2026-12-07T00:00:01.000Z' }]);

      await store.approve(server, 'read', 'f2');
      expect(store.get(server, 'read')).toMatchObject({ fingerprint: 'f2', approved_fingerprint: 'f2' });
      expect(store.changes(server, 50)).toHaveLength(1);
      expect(store.get(server, 'nope')).toBeUndefined();
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'fingerprint-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dirs = 0;

fingerprintContract(
  'sqlite',
  async () => {
    const db = openDatabase(join(dir, String(dirs++)));
    return { store: new SqliteFingerprintStore(db), close: async () => void db.close() };
  },
  async () => undefined,
);

describePg('PostgreSQL fingerprint store', () => {
  const database = useTestDatabase('fingerprints');

  /** A store as a gateway opens it: its pool, and the listening channel it shares with runtime backends. */
  async function gatewayStore(schema: string): Promise<{ store: PgFingerprintStore; close: () => Promise<void> }> {
    const settings = { url: database.url, schema, max: 2 };
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

  fingerprintContract(
    'postgres',
    () => gatewayStore(freshSchema()),
    (store, server) => heard(store).next(server),
  );

  it('answers a first sight unapproved until the database confirms it, and keeps another gateway’s first sight', async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([gatewayStore(schema), gatewayStore(schema)]);
    try {
      const heardB = heard(b.store);
      // Each wait is set up before the write it waits for: the other store may hear it before this one's answer.
      const [confirmedA, bHeard] = [heard(a.store).next('fs'), heardB.next('fs')];
      expect(a.store.batch(() => a.store.firstSight(record('fs', 'read', 'f1')))).toBe(false);
      await confirmedA;
      expect(a.store.get('fs', 'read')).toMatchObject({ approved_fingerprint: 'f1' });
      // B hears it; B's own first sight of another definition does not replace it.
      await bHeard;
      const confirmedB = heardB.next('fs');
      b.store.batch(() => b.store.firstSight(record('fs', 'read', 'f9')));
      await confirmedB;
      expect(b.store.get('fs', 'read')).toMatchObject({ approved_fingerprint: 'f1' });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('tells a store of an approval made by another gateway, also one committed while its listening connection was down', async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([gatewayStore(schema), gatewayStore(schema)]);
    try {
      const heardB = heard(b.store);
      const confirmed = Promise.all([heard(a.store).next('x'), heard(a.store).next('y'), heardB.next('x'), heardB.next('y')]);
      a.store.batch(() => {
        a.store.firstSight(record('x', 'read', 'f1'));
        a.store.firstSight(record('y', 'list', 'g1'));
      });
      await confirmed; // from here on nobody writes 'y': B hears of it again only by re-reading everything
      const approvedHeard = heardB.next('x');
      await a.store.approve('x', 'read', 'f2');
      await approvedHeard;
      expect(b.store.get('x', 'read')).toMatchObject({ approved_fingerprint: 'f2' });

      // Drop every listening connection on the database; approve meanwhile.
      const reread = heardB.next('y');
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`,
        );
      } finally {
        await admin.end();
      }
      await a.store.approve('x', 'read', 'f3');
      await reread;
      expect(b.store.get('x', 'read')).toMatchObject({ approved_fingerprint: 'f3' });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('sends a write the database refused again once the listening connection is back', async () => {
    const db = await openPgDatabase({ url: database.url, schema: freshSchema(), max: 2 });
    try {
      // The pool refuses the first listing write, as PostgreSQL does while it is down.
      let refuse = true;
      const pool = {
        query: (text: string, values?: unknown[]) => {
          if (refuse && text.startsWith('WITH first')) {
            refuse = false;
            return Promise.reject(new Error('connection refused'));
          }
          return db.pool.query(text, values);
        },
      } as unknown as pg.Pool;
      const store = await PgFingerprintStore.open(pool);
      store.batch(() => store.firstSight(record('down', 'read', 'f1')));
      await store.close(); // the queued write has run (and failed)
      expect(store.get('down', 'read')).toBeUndefined();
      const confirmed = heard(store).next('down');
      store.gap();
      await confirmed;
      expect(store.get('down', 'read')).toMatchObject({ approved_fingerprint: 'f1' });
    } finally {
      await db.close();
    }
  });

  it('reports a refused write as waiting until the database took it, also when a re-read queued before it succeeds first', async () => {
    const db = await openPgDatabase({ url: database.url, schema: freshSchema(), max: 4 });
    try {
      // The first listing write is refused; later, a re-read and the write sent again are held until released.
      let refuse = true;
      let holdReads: Promise<void> | undefined;
      let holdWrites: Promise<void> | undefined;
      let writeSentAgain!: () => void;
      const sentAgain = new Promise<void>((resolve) => {
        writeSentAgain = resolve;
      });
      const pool = {
        query: async (text: string, values?: unknown[]) => {
          if (text.startsWith('WITH first')) {
            if (refuse) {
              refuse = false;
              throw new Error('connection refused');
            }
            writeSentAgain();
            await holdWrites;
          } else if (text.startsWith('SELECT')) await holdReads;
          return db.pool.query(text, values);
        },
      } as unknown as pg.Pool;
      const store = await PgFingerprintStore.open(pool);
      store.batch(() => store.firstSight(record('late', 'read', 'f1')));
      await vi.waitFor(() => expect(store.problem()).toMatch(/1 write\(s\) .* wait to be sent again/));
      let releaseReads!: () => void;
      let releaseWrites!: () => void;
      holdReads = new Promise((resolve) => {
        releaseReads = resolve;
      });
      holdWrites = new Promise((resolve) => {
        releaseWrites = resolve;
      });
      store.changed('late'); // a re-read (another gateway's NOTIFY) in flight …
      store.gap(); // … when the refused write is sent again behind it
      releaseReads();
      await sentAgain; // the re-read succeeded; the write is at the database and not taken yet
      expect(store.problem()).toMatch(/1 write\(s\) .* wait to be sent again/);
      const confirmed = heard(store).next('late');
      releaseWrites();
      await confirmed;
      expect(store.problem()).toBeUndefined();
      expect(store.get('late', 'read')).toMatchObject({ approved_fingerprint: 'f1' });
      await store.close();
    } finally {
      await db.close();
    }
  });

  it('copies data_dir records the shared table lacks when it opens, and leaves the ones it has', async () => {
    const schema = freshSchema();
    const first = await gatewayStore(schema);
    const confirmed = heard(first.store).next('kept');
    first.store.batch(() => first.store.firstSight(record('kept', 'read', 'shared')));
    await confirmed;
    await first.close();
    const local = openDatabase(join(dir, String(dirs++)));
    const sqlite = new SqliteFingerprintStore(local);
    sqlite.firstSight(record('kept', 'read', 'local'));
    sqlite.firstSight({ ...record('moved', 'read', 'seen-last'), approved_fingerprint: 'approved-here' });
    const settings = { url: database.url, schema, max: 2 };
    const db = await openPgDatabase(settings);
    try {
      const store = await PgFingerprintStore.open(db.pool, { local });
      expect(store.get('kept', 'read')).toMatchObject({ approved_fingerprint: 'shared' });
      expect(store.get('moved', 'read')).toMatchObject({ fingerprint: 'seen-last', approved_fingerprint: 'approved-here' });
    } finally {
      await db.close();
      local.close();
    }
  });
});
