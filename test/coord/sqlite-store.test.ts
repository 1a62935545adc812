import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate, SCHEMA_VERSION } from '../../backends/coord/migrations.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import { storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'coord-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

// The contract on a real file (WAL, as in production) ...
storeContract('sqlite file', (options, runtime) => Promise.resolve(openSqliteStore(join(dir, `contract-${files++}.db`), options, runtime)));
// ... and in memory, which tests of other parts may use.
storeContract('sqlite :memory:', (options, runtime) => Promise.resolve(openSqliteStore(':memory:', options, runtime)));

describe('sqlite store specifics', () => {
  it('opens in WAL mode with synchronous NORMAL and records the schema version', async () => {
    const path = join(dir, 'pragmas.db');
    const store = openSqliteStore(path);
    expect(await store.health()).toMatchObject({ store: 'sqlite', schema_version: SCHEMA_VERSION });
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const versions = db.prepare('SELECT version, name FROM schema_version ORDER BY version').all();
    expect(versions).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    db.close();
  });

  it('applies only new migrations on reopen and refuses a database from a newer version', () => {
    const db = new Database(':memory:');
    expect(migrate(db)).toBe(SCHEMA_VERSION);
    expect(migrate(db)).toBe(SCHEMA_VERSION); // idempotent
    const extended = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, name: 'extra', sql: 'CREATE TABLE extra (x INTEGER)' }];
    expect(migrate(db, extended)).toBe(SCHEMA_VERSION + 1);
    expect(() => migrate(db)).toThrow(/newer than this stonegate understands/);
    db.close();
  });

  it('keeps everything across a reopen: agents, inboxes and cursors, tasks and leases, state, events', async () => {
    const path = join(dir, 'reopen.db');
    const first = openSqliteStore(path);
    await first.registerAgent({ agent_id: 'a', role: 'r' });
    await first.registerAgent({ agent_id: 'b', role: 'r' });
    await first.sendMessage({ from: 'a', to: 'b', content: 'one' });
    await first.poll({ agent_id: 'b', timeout_ms: 0 });
    await first.sendMessage({ from: 'a', to: 'b', content: 'two' });
    const task = await first.postTask({ description: 't', posted_by: 'a' });
    const { lease } = await first.claimTask({ agent_id: 'b' });
    await first.setState({ key: 'k', value: [1, 2] });
    const before = await first.events({ after: 0 });
    await first.close();

    const second = openSqliteStore(path);
    expect((await second.poll({ agent_id: 'b', timeout_ms: 0 })).messages.map((m) => m.content)).toEqual(['two']);
    expect(await second.completeTask({ task_id: task.id, agent_id: 'b', epoch: lease?.epoch })).toMatchObject({ status: 'complete' });
    expect((await second.getState('k')).value).toEqual([1, 2]);
    const after = await second.events({ after: 0 });
    expect(after.events.slice(0, before.events.length)).toEqual(before.events);
    // Ids keep growing after a restart; none is reused.
    expect(after.last_id).toBe(before.last_id + 1);
    await second.close();
  });
});
