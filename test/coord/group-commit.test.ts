import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../backends/coord/migrations.js';
import { CHECKPOINT_WAL_BYTES } from '../../backends/coord/sqlite/checkpointer.js';
import { GroupCommit } from '../../backends/coord/sqlite/group-commit.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import { expectCode, registerAll, TestClock } from '../helpers/coord-store.js';

const dir = mkdtempSync(join(tmpdir(), 'coord-group-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A store on a fresh file, plus a second connection to the same file that sees only committed data. */
function open(clock?: TestClock): { store: CoordStore; reader: Database.Database; path: string } {
  const path = join(dir, `g-${files++}.db`);
  const store = openSqliteStore(path, {}, clock === undefined ? {} : { now: clock.now });
  const reader = new Database(path, { readonly: true });
  closers.push(
    () => store.close(),
    () => reader.close(),
  );
  return { store, reader, path };
}

describe('group commit (sqlite)', () => {
  it('answers each send of a burst only once it is committed, with ids in call order', async () => {
    const { store, reader } = open();
    await registerAll(store, ['a', 'b']);
    const committed = reader.prepare('SELECT COUNT(*) AS n FROM messages WHERE id = ?');
    const sends = Array.from({ length: 20 }, (_, i) => store.sendMessage({ from: 'a', to: 'b', content: `m${i}` }));
    // Each answer is checked from another connection the moment it arrives.
    const seen = await Promise.all(sends.map((p) => p.then((r) => ({ id: r.id, visible: (committed.get(r.id) as { n: number }).n }))));
    expect(seen.map((s) => s.visible)).toEqual(seen.map(() => 1));
    const ids = seen.map((s) => s.id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    const page = await store.poll({ agent_id: 'b', timeout_ms: 0, limit: 100 });
    expect(page.messages.map((m) => m.content)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  it('refuses one bad send of a burst without undoing the others', async () => {
    const { store, reader } = open();
    await registerAll(store, ['a', 'b']);
    const [first, bad, last] = [
      store.sendMessage({ from: 'a', to: 'b', content: 'one' }),
      store.sendMessage({ from: 'a', to: 'ghost', content: 'lost' }),
      store.sendMessage({ from: 'a', to: 'b', content: 'two' }),
    ];
    await expectCode(bad, 'UNKNOWN_AGENT');
    await Promise.all([first, last]);
    expect(reader.prepare('SELECT content FROM messages ORDER BY id').pluck().all()).toEqual(['one', 'two']);
    expect(reader.prepare(`SELECT COUNT(*) FROM events WHERE type = 'message'`).pluck().get()).toBe(2);
  });

  it('runs the writes of one turn in one transaction, each in a savepoint, and rejects them all when the commit fails', async () => {
    const db = new Database(join(dir, `raw-${files++}.db`));
    closers.push(() => db.close());
    migrate(db);
    const group = new GroupCommit(db, () => false);
    const insert = db.prepare(`INSERT INTO channels (name, created_at) VALUES (?, 0)`);
    const inTransaction: boolean[] = [];
    const ok = group.run(() => {
      inTransaction.push(db.inTransaction);
      insert.run('kept');
      return 'ok';
    });
    const failing = group.run(() => {
      insert.run('undone');
      throw new Error('refused');
    });
    expect(await ok).toBe('ok');
    await expect(failing).rejects.toThrow('refused');
    expect(inTransaction).toEqual([true]);
    expect(db.prepare(`SELECT name FROM channels WHERE name IN ('kept', 'undone')`).pluck().all()).toEqual(['kept']);

    // A deferred foreign key fails at COMMIT: every write of that group is refused and nothing stays.
    db.pragma('foreign_keys = ON');
    db.pragma('defer_foreign_keys = ON');
    const orphan = db.prepare('INSERT INTO inbox (recipient, channel, message_id) VALUES (?, ?, ?)');
    const plain = group.run(() => insert.run('with-orphan'));
    const broken = group.run(() => orphan.run('x', 'default', 999_999));
    await expect(plain).rejects.toThrow(/FOREIGN KEY/);
    await expect(broken).rejects.toThrow(/FOREIGN KEY/);
    expect(db.prepare(`SELECT COUNT(*) FROM channels WHERE name = 'with-orphan'`).pluck().get()).toBe(0);
  });

  it('refuses writes still queued when the store is closed with UNAVAILABLE, and commits the ones queued before', async () => {
    const { store, reader } = open();
    await registerAll(store, ['a', 'b']);
    const before = store.sendMessage({ from: 'a', to: 'b', content: 'before close' });
    await store.close();
    expect((await before).id).toBeGreaterThan(0);
    expect(reader.prepare('SELECT content FROM messages').pluck().all()).toEqual(['before close']);
    await expectCode(store.sendMessage({ from: 'a', to: 'b', content: 'after close' }), 'UNAVAILABLE');
  });
});

describe('last-seen times (sqlite)', () => {
  it('a poll that finds nothing writes nothing, and a poll within a second of the last write keeps its time in memory until something reads it', async () => {
    const clock = new TestClock();
    const { store, reader } = open(clock);
    await registerAll(store, ['a']);
    const version = (): number => reader.pragma('data_version', { simple: true }) as number;
    const stored = (): string => new Date(reader.prepare(`SELECT last_heartbeat FROM agents WHERE id = 'a'`).pluck().get() as number).toISOString();
    const registeredAt = new Date(clock.ms).toISOString();

    clock.ms += 400;
    const v0 = version();
    await store.poll({ agent_id: 'a', timeout_ms: 0 });
    expect(version()).toBe(v0); // no commit by the store since the read above
    expect(stored()).toBe(registeredAt);
    // Discovery writes what is held first, so it reports the poll's time.
    const [agent] = await store.discoverAgents({});
    expect(agent?.last_heartbeat).toBe(new Date(clock.ms).toISOString());
    expect(stored()).toBe(new Date(clock.ms).toISOString());

    // A second after the last write, a call writes at once.
    clock.ms += 1_000;
    await store.poll({ agent_id: 'a', timeout_ms: 0 });
    expect(stored()).toBe(new Date(clock.ms).toISOString());

    // What is held when the store closes is written too.
    clock.ms += 300;
    await store.poll({ agent_id: 'a', timeout_ms: 0 });
    expect(stored()).not.toBe(new Date(clock.ms).toISOString());
    await store.close();
    expect(stored()).toBe(new Date(clock.ms).toISOString());
  });

  it('a poll still refuses an agent deregistered in the meantime', async () => {
    const { store } = open();
    await registerAll(store, ['a']);
    await store.poll({ agent_id: 'a', timeout_ms: 0 });
    await store.deregisterAgent('a');
    await expectCode(store.poll({ agent_id: 'a', timeout_ms: 0 }), 'UNKNOWN_AGENT');
    await expectCode(store.sendMessage({ from: 'a', to: 'a', content: 'x' }), 'UNKNOWN_AGENT');
  });
});

describe('WAL checkpoints (sqlite)', () => {
  it('copies the WAL into the database file from a worker thread once the WAL is past its threshold, and stops with the store', async () => {
    const { store, path } = open();
    await registerAll(store, ['a', 'b']);
    const content = 'x'.repeat(60_000);
    for (let i = 0; i * content.length < CHECKPOINT_WAL_BYTES * 1.5; i += 1) await store.sendMessage({ from: 'a', to: 'b', content });
    const walBytes = statSync(`${path}-wal`).size;
    expect(walBytes).toBeGreaterThan(CHECKPOINT_WAL_BYTES);
    // Far below the store connection's own checkpoint point, so only the worker can have moved the pages.
    expect(statSync(path).size).toBeLessThan(CHECKPOINT_WAL_BYTES / 4);
    const deadline = Date.now() + 20_000;
    while (statSync(path).size < CHECKPOINT_WAL_BYTES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(statSync(path).size).toBeGreaterThan(CHECKPOINT_WAL_BYTES);
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT COUNT(*) FROM messages').pluck().get()).toBeGreaterThan(100);
    db.close();
  });
});
