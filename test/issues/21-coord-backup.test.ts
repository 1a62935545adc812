import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningCoord, startCoord, stopAll } from '../helpers/coord-standalone.js';
import { runCli } from '../helpers/run-cli.js';

// #21 item 13: `stonegate coord backup FILE` takes a consistent copy of the
// SQLite store while a standalone server is being written to;
// `stonegate coord restore FILE` puts it back, refusing while a server has
// the store open and refusing a file that is not a coordination store.

const dirs: string[] = [];
afterAll(async () => {
  await stopAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-backup-'));
  dirs.push(dir);
  return dir;
}

async function register(coord: RunningCoord, agent: string): Promise<void> {
  expect((await coord.post('/agent/register', { agent_id: agent, role: 'worker' })).status).toBe(200);
}

/** Every message in b's inbox, oldest first, read without moving its cursor (history). */
async function inboxOf(coord: RunningCoord): Promise<{ id: number; content: string }[]> {
  const answer = await coord.get('/msg/history?agent_id=b&limit=1000');
  expect(answer.status).toBe(200);
  return (answer.body.messages as { id: number; content: string }[]).reverse();
}

describe('#21.13 stonegate coord backup / restore', () => {
  it('backs up a store that is being written to, refuses to restore under a running server, and restores what it copied', async () => {
    const dir = tempDir();
    const db = join(dir, 'coord.db');
    const backup = join(dir, 'backup.db');
    const coord = await startCoord(db);
    await register(coord, 'a');
    await register(coord, 'b');

    // A writer that keeps sending until told to stop; `acked` counts the sends answered.
    let acked = 0;
    let writing = true;
    let firstTen: () => void = () => undefined;
    const tenSent = new Promise<void>((resolve) => (firstTen = resolve));
    const writer = (async () => {
      while (writing) {
        const sent = await coord.post('/msg/send', { from: 'a', to: 'b', content: `m${acked + 1}` });
        expect(sent.status).toBe(200);
        acked += 1;
        if (acked === 10) firstTen();
      }
    })();
    await tenSent;
    const ackedBefore = acked;
    const run = await runCli(['coord', 'backup', backup, '--db', db]);
    const ackedAfter = acked;
    writing = false;
    await writer;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^backed up .*coord\.db to .*backup\.db \(\d+ pages, schema version \d+\)\n$/);

    // Restoring over the store while the server holds it is refused, and changes nothing.
    const refused = await runCli(['coord', 'restore', backup, '--db', db]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is open in a running server (a gateway or stonegate coord); stop it, then restore. Nothing was changed.');
    const live = await inboxOf(coord);
    expect(live).toHaveLength(acked);

    // The backup is one commit's view: messages 1..N with nothing missing, N between what was acknowledged before and after.
    const restoredDb = join(dir, 'restored.db');
    const restored = await runCli(['coord', 'restore', backup, '--db', restoredDb]);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    const copy = await startCoord(restoredDb);
    const messages = await inboxOf(copy);
    expect(messages.length).toBeGreaterThanOrEqual(ackedBefore);
    expect(messages.length).toBeLessThanOrEqual(ackedAfter + 1);
    expect(messages).toEqual(messages.map((_, i) => ({ ...messages[i], id: i + 1, content: `m${i + 1}` })));
    // The restored store goes on where the backup stopped.
    const next = await copy.post('/msg/send', { from: 'a', to: 'b', content: 'after restore' });
    expect(next.body.id).toBe(messages.length + 1);
    await copy.stop();

    // With the server stopped, restore over the original store: it reads back as the backup.
    expect((await coord.stop()).code).toBe(0);
    const over = await runCli(['coord', 'restore', backup, '--db', db]);
    expect(over.code).toBe(0);
    expect(existsSync(`${db}-wal`)).toBe(false);
    const again = await startCoord(db);
    expect((await inboxOf(again)).length).toBe(messages.length);
    await again.stop();

    // A store damaged beyond reading is what a restore is for: it is replaced.
    writeFileSync(db, 'garbage, not a database\n'.repeat(200));
    const repaired = await runCli(['coord', 'restore', backup, '--db', db]);
    expect(repaired.stderr).toBe('');
    expect(repaired.code).toBe(0);
    const back = await startCoord(db);
    expect((await inboxOf(back)).length).toBe(messages.length);
    await back.stop();
  });

  it('refuses a file that is not a coordination store, an existing backup file, and a PostgreSQL store', async () => {
    const dir = tempDir();
    const db = join(dir, 'coord.db');
    const coord = await startCoord(db);
    await register(coord, 'a');
    await coord.stop();
    const before = readFileSync(db);

    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a database\n'.repeat(100));
    const notDb = await runCli(['coord', 'restore', text, '--db', db]);
    expect(notDb.code).toBe(1);
    expect(notDb.stderr).toBe(`stonegate: The backup ${text} is not a coordination store: file is not a database.\n`);

    const other = join(dir, 'other.db');
    const foreign = new Database(other);
    foreign.exec('CREATE TABLE agents (id TEXT)');
    foreign.close();
    const notCoord = await runCli(['coord', 'restore', other, '--db', db]);
    expect(notCoord.code).toBe(1);
    expect(notCoord.stderr).toBe(
      `stonegate: The backup ${other} is not a coordination store: it lacks the table(s) schema_version, channels, messages, inbox, cursors, tasks, state, events.\n`,
    );
    expect(readFileSync(db).equals(before)).toBe(true);

    const taken = await runCli(['coord', 'backup', text, '--db', db]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe(`stonegate: Backup file ${text} already exists; name a new file (a backup never overwrites one).\n`);

    const pg = await runCli(['coord', 'backup', join(dir, 'pg.db'), '--db', 'postgres://coord@127.0.0.1:1/coord']);
    expect(pg.code).toBe(1);
    expect(pg.stderr).toContain('this one is PostgreSQL: use pg_dump');
    const pgRestore = await runCli(['coord', 'restore', join(dir, 'pg.db'), '--db', 'postgres://coord@127.0.0.1:1/coord']);
    expect(pgRestore.code).toBe(1);
    expect(pgRestore.stderr).toContain('use pg_restore');

    const usage = await runCli(['coord', 'backup']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('stonegate: coord backup takes one FILE, e.g. stonegate coord backup coord-backup.db\n');
  });
});
