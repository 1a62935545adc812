import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { migratePostgres } from '../../kit/pg-migrate.js';
import { openDatabase } from '../../src/store/database.js';
import { GATEWAY_MIGRATIONS } from '../../src/store/migrations.js';
import { openPgDatabase } from '../../src/store/pg/database.js';
import { PgRuntimeBackendStore } from '../../src/store/pg/runtime-backends.js';
import { type RuntimeBackendStore, SqliteRuntimeBackendStore } from '../../src/store/runtime-backends.js';
import { describePg, freshSchema, useTestDatabase } from '../helpers/pg.js';

type Make = () => Promise<{ store: RuntimeBackendStore; close: () => Promise<void> }>;

/** What every RuntimeBackendStore does (SQLite and PostgreSQL run it). */
function runtimeBackendContract(name: string, make: Make): void {
  describe(`RuntimeBackendStore contract: ${name}`, () => {
    const open: (() => Promise<void>)[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((close) => close()));
    });
    const fresh = async (): Promise<RuntimeBackendStore> => {
      const { store, close } = await make();
      open.push(close);
      return store;
    };

    it('adds, replaces and lists runtime backends in the order they were added', async () => {
      const store = await fresh();
      expect(await store.list()).toEqual([]);
      await store.add('one', { name: 'one', command: 'node', args: ['a.js'] });
      await store.add('two', { name: 'two', transport: 'http', url: 'http://127.0.0.1:1/mcp', headers: { 'X-Key': 'ü' } });
      await store.add('one', { name: 'one', command: 'node', args: ['b.js'] });
      const listed = await store.list();
      expect(listed.map((b) => b.name).sort()).toEqual(['one', 'two']);
      expect(listed.find((b) => b.name === 'one')?.entry).toEqual({ name: 'one', command: 'node', args: ['b.js'] });
      expect(listed.find((b) => b.name === 'two')?.entry).toMatchObject({ headers: { 'X-Key': 'ü' } });
      for (const b of listed) expect(Number.isNaN(Date.parse(b.added_at))).toBe(false);
    });

    it('forgets a removed runtime backend and remembers a removed file backend', async () => {
      const store = await fresh();
      await store.add('rt', { name: 'rt', command: 'node' });
      await store.remove('rt', 'runtime');
      await store.remove('from-file', 'file');
      await store.remove('from-file', 'file');
      expect(await store.list()).toEqual([]);
      expect(await store.removed()).toEqual(new Set(['from-file']));
    });

    it('remembers enabled as the last stop or start through the API left it, until the backend is removed', async () => {
      const store = await fresh();
      expect(await store.enabledOverrides()).toEqual(new Map());
      await store.setEnabled('a', false);
      await store.setEnabled('b', false);
      await store.setEnabled('b', true);
      expect(await store.enabledOverrides()).toEqual(
        new Map([
          ['a', false],
          ['b', true],
        ]),
      );
      await store.remove('a', 'file');
      await store.remove('b', 'runtime');
      expect(await store.enabledOverrides()).toEqual(new Map());
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'runtime-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dirs = 0;

runtimeBackendContract('sqlite', async () => {
  const db = openDatabase(join(dir, String(dirs++)));
  return { store: new SqliteRuntimeBackendStore(db), close: async () => void db.close() };
});

describePg('PostgreSQL gateway store', () => {
  const database = useTestDatabase('runtime');

  runtimeBackendContract('postgres', async () => {
    const db = await openPgDatabase({ url: database.url, schema: freshSchema(), max: 2 });
    return { store: new PgRuntimeBackendStore(db.pool), close: () => db.close() };
  });

  it('shows one gateway’s runtime adds to another on the same database', async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([openPgDatabase({ url: database.url, schema, max: 1 }), openPgDatabase({ url: database.url, schema, max: 1 })]);
    try {
      await new PgRuntimeBackendStore(a.pool).add('shared', { name: 'shared', command: 'node' });
      expect((await new PgRuntimeBackendStore(b.pool).list()).map((x) => x.name)).toEqual(['shared']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses a database migrated by a newer stonegate', async () => {
    const schema = freshSchema();
    const db = await openPgDatabase({ url: database.url, schema, max: 1 });
    const next = GATEWAY_MIGRATIONS.length + 1;
    const newer = [...GATEWAY_MIGRATIONS, { version: next, name: 'newer', postgres: 'CREATE TABLE newer (x INT)' }];
    try {
      expect(await migratePostgres(db.pool, 'stonegate_schema_version', newer, 'gateway')).toBe(next);
      expect(await migratePostgres(db.pool, 'stonegate_schema_version', newer, 'gateway')).toBe(next);
    } finally {
      await db.close();
    }
    await expect(openPgDatabase({ url: database.url, schema, max: 1 })).rejects.toThrow(/newer than this stonegate understands/);
  });
});

describe('gateway migrations', () => {
  it('number their steps 1, 2, 3 … and give each one in both dialects', () => {
    GATEWAY_MIGRATIONS.forEach((m, i) => {
      expect(m.version).toBe(i + 1);
      expect(m.sqlite.trim()).not.toBe('');
      expect(m.postgres.trim()).not.toBe('');
    });
  });
});
