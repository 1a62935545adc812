import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CHECKPOINT_WAL_BYTES, Checkpointer } from '../../backends/coord/sqlite/checkpointer.js';

/*
 * [speed] #30: the coordination store's WAL checkpointer looked at the WAL
 * file every second for ever (a wake-up a second of an idle gateway). Now
 * its timer runs while the store is used (wake() at each operation) and
 * stops one second after the last use, after a last look; a WAL past
 * CHECKPOINT_WAL_BYTES is still checkpointed.
 */
describe('Checkpointer', () => {
  let dir: string;
  let db: Database.Database;
  let path: string;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    dir = mkdtempSync(join(tmpdir(), 'stonegate-checkpointer-'));
    path = join(dir, 'coord.db');
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (v BLOB)');
  });

  afterEach(() => {
    vi.useRealTimers();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('looks every second while the store is used and stops one second after the last use', async () => {
    const checkpointer = new Checkpointer(path, undefined);
    expect(checkpointer.armed).toBe(true); // a first look after opening
    vi.advanceTimersByTime(1_000);
    expect(checkpointer.armed).toBe(false); // idle: no timer
    checkpointer.wake();
    expect(checkpointer.armed).toBe(true);
    vi.advanceTimersByTime(500);
    checkpointer.wake(); // used again within the second: one more look after the next
    vi.advanceTimersByTime(500);
    expect(checkpointer.armed).toBe(true);
    vi.advanceTimersByTime(1_000);
    expect(checkpointer.armed).toBe(false);
    await checkpointer.close();
    checkpointer.wake();
    expect(checkpointer.armed).toBe(false); // closed: never again
  });

  it('checkpoints a WAL past the threshold at the next look after a use', async () => {
    const checkpointer = new Checkpointer(path, undefined);
    vi.advanceTimersByTime(1_000);
    const blob = Buffer.alloc(64 * 1024, 1);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < CHECKPOINT_WAL_BYTES / blob.length + 8; i += 1) insert.run(blob);
    })();
    expect(statSync(`${path}-wal`).size).toBeGreaterThanOrEqual(CHECKPOINT_WAL_BYTES);
    const before = statSync(path).size;
    checkpointer.wake();
    vi.advanceTimersByTime(1_000);
    // The worker runs its messages in order: the checkpoint has run once close() has waited for it to exit.
    await checkpointer.close();
    expect(statSync(path).size).toBeGreaterThan(before + CHECKPOINT_WAL_BYTES / 2);
  });
});
