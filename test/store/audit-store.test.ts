import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AuditSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { type AuditEntry, AuditLog, type AuditStore, SqliteAuditStore } from '../../src/store/audit.js';
import { openDatabase } from '../../src/store/database.js';
import { PgAuditStore } from '../../src/store/pg/audit-store.js';
import { openPgDatabase } from '../../src/store/pg/database.js';
import { describePg, freshSchema, useTestDatabase } from '../helpers/pg.js';

type Make = () => Promise<{ store: AuditStore; count: () => Promise<number>; close: () => Promise<void> }>;

const record = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  time: new Date().toISOString(),
  agent: 'alice',
  server: 'demo',
  tool: 'echo',
  status: 'success',
  code: null,
  duration_ms: 1.5,
  args_bytes: 12,
  arguments: { text: 'x' },
  ...over,
});

const collect = async (entries: AsyncIterable<AuditEntry>): Promise<AuditEntry[]> => {
  const out: AuditEntry[] = [];
  for await (const entry of entries) out.push(entry);
  return out;
};

/** What the audit log does on every store (SQLite and PostgreSQL run it). */
function auditContract(name: string, make: Make): void {
  describe(`audit log: ${name}`, () => {
    const open: (() => Promise<void>)[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((close) => close()));
    });
    const fresh = async (): Promise<{ store: AuditStore; count: () => Promise<number> }> => {
      const made = await make();
      open.push(made.close);
      return made;
    };

    // [otel] #32: a call's trace id joins the audit log to its trace.
    it('keeps a call’s trace id; a call without one has none', async () => {
      const { store } = await fresh();
      const audit = new AuditLog(store, AuditSchema.parse({}), silentLogger());
      audit.record(record({ tool: 'traced', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' }));
      audit.record(record({ tool: 'plain' }));
      const [plain, traced] = await audit.recent({ limit: 10 });
      expect(traced).toMatchObject({ tool: 'traced', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' });
      expect(plain?.tool).toBe('plain');
      expect(plain).not.toHaveProperty('trace_id');
      expect((await collect(audit.export({}))).map((r) => r.trace_id)).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', undefined]);
    });

    it('writes calls in batches and reads them back newest first, filtered, and as an export oldest first', async () => {
      const { store, count } = await fresh();
      const audit = new AuditLog(store, AuditSchema.parse({}), silentLogger());
      audit.record(record());
      audit.record(record({ agent: 'bob', server: 'other', status: 'error', code: 'FORBIDDEN', args_bytes: null }));
      audit.record(record({ tool: 'sleep', retried: true }));
      const recent = await audit.recent({ limit: 10 });
      expect(recent.map((r) => r.tool)).toEqual(['sleep', 'echo', 'echo']);
      expect(recent[0]).toMatchObject({ retried: true, args_bytes: 12, duration_ms: 1.5 });
      expect(recent[0]).not.toHaveProperty('arguments');
      expect(recent[1]).not.toHaveProperty('retried');
      expect(await audit.recent({ limit: 10, agent: 'bob' })).toMatchObject([{ server: 'other', code: 'FORBIDDEN', args_bytes: null }]);
      expect(await audit.recent({ limit: 10, status: 'error' })).toHaveLength(1);
      expect(await audit.recent({ limit: 10, servers: new Set(['other']) })).toHaveLength(1);
      expect(await audit.recent({ limit: 10, servers: new Set() })).toHaveLength(0);
      expect(await audit.recent({ limit: 10, since: Date.now() + 1_000 })).toHaveLength(0);
      expect(await audit.recent({ limit: 1 })).toHaveLength(1);
      expect((await collect(audit.export({ server: 'demo' }))).map((r) => r.tool)).toEqual(['echo', 'sleep']);
      await audit.close();
      audit.record(record());
      expect(await count()).toBe(3);
    });

    it('keeps arguments only when asked, and drops rows past retention_days', async () => {
      const { store } = await fresh();
      const audit = new AuditLog(store, AuditSchema.parse({ arguments: true, retention_days: 1 }), silentLogger());
      audit.record(record());
      audit.record(record({ time: new Date(Date.now() - 2 * 86_400_000).toISOString() }));
      expect(await audit.recent({ limit: 10 })).toHaveLength(2);
      expect((await audit.recent({ limit: 10 }))[0]?.arguments).toEqual({ text: 'x' });
      await audit.expire();
      expect(await audit.recent({ limit: 10 })).toHaveLength(1);
      await audit.close();
    });

    it('exports more rows than one page, in order, and stops at a limit', async () => {
      const { store } = await fresh();
      const audit = new AuditLog(store, AuditSchema.parse({}), silentLogger());
      for (let i = 0; i < 2_345; i += 1) audit.record(record({ tool: `t${i}` }));
      const all = await collect(audit.export({}));
      expect(all).toHaveLength(2_345);
      expect(all[0]?.tool).toBe('t0');
      expect(all.at(-1)?.tool).toBe('t2344');
      expect((await collect(audit.export({ limit: 1_500 }))).map((r) => r.tool)).toEqual(all.slice(0, 1_500).map((r) => r.tool));
      await audit.close();
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'audit-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dirs = 0;

auditContract('sqlite', async () => {
  const db = openDatabase(join(dir, String(dirs++)));
  return {
    store: new SqliteAuditStore(db),
    count: async () => (db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n,
    close: async () => void db.close(),
  };
});

describePg('PostgreSQL audit log', () => {
  const database = useTestDatabase('audit');

  auditContract('postgres', async () => {
    const db = await openPgDatabase({ url: database.url, schema: freshSchema(), max: 2 });
    return {
      store: new PgAuditStore(db.pool),
      count: async () => Number((await db.pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM audit_log')).rows[0]?.n),
      close: () => db.close(),
    };
  });

  it('shows one gateway’s calls in another’s log on the same database', async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([openPgDatabase({ url: database.url, schema, max: 1 }), openPgDatabase({ url: database.url, schema, max: 1 })]);
    try {
      const logA = new AuditLog(new PgAuditStore(a.pool), AuditSchema.parse({}), silentLogger());
      logA.record(record({ agent: 'on-a' }));
      await logA.close();
      const logB = new AuditLog(new PgAuditStore(b.pool), AuditSchema.parse({}), silentLogger());
      expect((await logB.recent({ limit: 5 })).map((r) => r.agent)).toEqual(['on-a']);
      await logB.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
