import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { runCli } from '../helpers/run-cli.js';

/*
 * Issue #19 item 14: store failures were invisible. A corrupt SQLite file
 * left /health at ok while routes answered 500; a start on it exited with
 * "database disk image is malformed" without naming the file; deleting the
 * files while the gateway ran lost every later write silently. /health now
 * has a `store` check (down and 503 when the gateway database is unusable,
 * degraded when only the coordination store is), routes that meet a broken
 * file answer STORE_UNAVAILABLE naming it, and start errors name the file
 * and the fix.
 */

afterAll(stopAll);

const COORD_ON = '[coordination]\nenabled = true\n';

interface Health {
  status: number;
  body: { status: string; checks?: { store?: { status: string; detail: string; problems: string[] } } };
}

async function health(gw: RunningGateway): Promise<Health> {
  const answer = await gw.request('GET', '/health');
  return { status: answer.status, body: answer.body as Health['body'] };
}

/** A folder whose data/<file> holds bytes that are not a SQLite database. */
function garbageDir(file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-19-store-'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', file), Buffer.alloc(8192, 0x5a));
  return dir;
}

/** The start error of a gateway on `dir` (startGateway rejects with the stderr when it exits before listening). */
async function startError(dir: string, toml: string): Promise<string> {
  try {
    const gw = await startGateway(toml, { dir });
    await gw.stop();
  } catch (error) {
    return (error as Error).message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error('the gateway started');
}

/** Overwrites the first page of `table` in the SQLite file at `path` (the gateway that wrote it has stopped). */
function corruptTable(path: string, table: string): void {
  const db = new Database(path);
  const page = db.pragma('page_size', { simple: true }) as number;
  const root = (db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as { rootpage: number }).rootpage;
  db.close();
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(page, 0xa5), 0, page, (root - 1) * page);
  closeSync(fd);
}

describe('issue 19: store failures are reported', () => {
  it('a start on a corrupt stonegate.db names the file and the fix', async () => {
    const dir = garbageDir('stonegate.db');
    const message = await startError(dir, '');
    expect(message).toContain(join(dir, 'data', 'stonegate.db'));
    expect(message).toMatch(/move .* aside or restore them from a backup/);
  });

  it('a start on a corrupt coord.db names the file and the fix', async () => {
    const dir = garbageDir('coord.db');
    const message = await startError(dir, COORD_ON);
    expect(message).toContain(join(dir, 'data', 'coord.db'));
    expect(message).toMatch(/move .* aside or restore them from a backup/);
  });

  it('a corrupt page met by a route: STORE_UNAVAILABLE naming the file, and /health down (503)', async () => {
    const first = await startGateway(`${demoBackend()}\n[audit]\nretention_days = 0\n`, { keep: true });
    await first.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    for (let i = 0; i < 3; i += 1)
      expect((await first.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: `row ${i}` } })).status).toBe(200);
    const { dir } = first;
    await first.stop();
    const file = join(dir, 'data', 'stonegate.db');
    corruptTable(file, 'audit_log');

    const gw = await startGateway(`${demoBackend()}\n[audit]\nretention_days = 0\n`, { dir });
    const log = await gw.request('GET', '/log');
    expect(log.status).toBe(503);
    expect(log.body.code).toBe('STORE_UNAVAILABLE');
    expect(log.body.error).toContain(file);
    const h = await health(gw);
    expect(h.status).toBe(503);
    expect(h.body.status).toBe('down');
    expect(h.body.checks?.store?.status).toBe('down');
    // /health needs no token: files are named relative to data_dir; the log has the whole path.
    expect(h.body.checks?.store?.detail).toContain('data_dir/stonegate.db');
    expect(h.body.checks?.store?.detail).not.toContain(dir);
    const logged = await gw.waitForLog((l) => l.msg === 'store unusable');
    expect(String(logged.problem)).toContain(file);
  });

  it('files deleted while the gateway runs: /health says so (down, 503) and the log has it', async () => {
    const gw = await startGateway(COORD_ON);
    const before = await health(gw);
    expect(before.status).toBe(200);
    expect(before.body.checks?.store?.status).toBe('ok');
    for (const name of ['stonegate.db', 'stonegate.db-wal', 'stonegate.db-shm', 'coord.db', 'coord.db-wal', 'coord.db-shm'])
      rmSync(join(gw.dir, 'data', name), { force: true });
    const after = await health(gw);
    expect(after.status).toBe(503);
    expect(after.body.status).toBe('down');
    const problems = after.body.checks?.store?.problems ?? [];
    expect(problems.some((p) => p.includes('data_dir/stonegate.db') && /deleted/.test(p))).toBe(true);
    expect(problems.some((p) => p.includes('data_dir/coord.db') && /deleted/.test(p))).toBe(true);
    const logged = await gw.waitForLog((l) => l.msg === 'store unusable');
    expect(String(logged.problem)).toMatch(/deleted/);
    // stonegate doctor still knows the 503 for stonegate and prints the problem with a fix.
    const doctor = await runCli(['doctor', '-c', join(gw.dir, 'stonegate.toml'), '--data-dir', join(gw.dir, 'data'), '--url', gw.url]);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/FAIL +store +.*data_dir\/stonegate\.db was deleted.* — fix: move the file aside or restore it from a backup/);
    expect(doctor.stdout).not.toMatch(/is not stonegate/);
  });

  it('only the coordination file gone: degraded (200), routing still serves', async () => {
    const gw = await startGateway(COORD_ON);
    rmSync(join(gw.dir, 'data', 'coord.db'));
    const h = await health(gw);
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('degraded');
    expect(h.body.checks?.store?.status).toBe('degraded');
    expect(h.body.checks?.store?.detail).toContain('data_dir/coord.db');
  });

  it('the file replaced while the gateway runs: down, naming it', async () => {
    const gw = await startGateway('');
    const file = join(gw.dir, 'data', 'stonegate.db');
    copyFileSync(file, `${file}.copy`);
    renameSync(`${file}.copy`, file);
    const h = await health(gw);
    expect(h.status).toBe(503);
    expect(h.body.checks?.store?.detail).toMatch(/replaced/);
    expect(h.body.checks?.store?.detail).toContain('data_dir/stonegate.db');
  });
});
