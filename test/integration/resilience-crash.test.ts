import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually, fixture, processesWithMarker, q, resultText, serverRow, startGateway, stopAll } from '../helpers/harness.js';
import { childPids, expectBackTo, footprint } from '../helpers/proc.js';
import { isAlive, waitForExit } from '../helpers/stdio-session.js';

// Crash recovery with real child processes: a call in flight on a backend
// that dies fails fast, the backend restarts with backoff, the next call
// works, and a read-only call is retried once on the restarted process.

const scratch = mkdtempSync(join(tmpdir(), 'stonegate-crash-'));
afterEach(stopAll);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('crash recovery', () => {
  it('fails a call in flight at once when its backend dies, restarts it, and serves the next call; read-only calls are retried once', async () => {
    const marker = join(scratch, `crashed-${randomUUID()}`);
    const gw = await startGateway(`
[supervisor]
restart_backoff_min = 50
restart_backoff_max = 200

[[backends]]
name = "crashy"
command = "node"
args = [${q(fixture('crash-server'))}]
env = { CRASH_ONCE_FILE = ${q(marker)} }
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'crashy');
    const baseline = footprint(gw);
    const firstPid = (await serverRow(gw, 'crashy')).pid;

    // crash_mid_call is not annotated read-only: it fails, naming the exit code.
    const { status, body, headers } = await gw.request('POST', '/call', { server: 'crashy', tool: 'crash_mid_call', arguments: { delay_ms: 50 } });
    expect(status).toBe(503);
    expect(body.code).toBe('BACKEND_UNAVAILABLE');
    expect(body.error).toMatch(/exited with code 3 during crash_mid_call/);
    expect(body.crashed).toBe(true);
    expect(headers.get('retry-after')).toBe('1');
    // The child exits 50 ms into the call; the answer names that exit (code
    // and message above), so it is the crash, not an acquire or call timeout.

    await gw.waitForLog((l) => l.msg === 'backend ready' && l.restarted === true && l.backend === 'crashy');
    const next = await gw.request('POST', '/call', { server: 'crashy', tool: 'ok', arguments: {} });
    expect(next.status).toBe(200);
    const restarted = await serverRow(gw, 'crashy');
    expect(restarted).toMatchObject({ status: 'running', restarts: 1 });
    expect(restarted.pid).not.toBe(firstPid);
    expect(restarted.last_error).toMatch(/exited with code 3/);
    expect(gw.logs.some((l) => l.retried === true)).toBe(false);

    // read_thing (readOnlyHint) crashes its process once: retried on the next one.
    const read = await gw.request('POST', '/call', { server: 'crashy', tool: 'read_thing', arguments: {} });
    expect(read.status).toBe(200);
    expect(resultText(read.body)).toBe('thing');
    expect(existsSync(marker)).toBe(true);
    const retried = await gw.waitForLog((l) => l.retried === true);
    expect(retried).toMatchObject({ backend: 'crashy', tool: 'read_thing', msg: 'call retried after backend crash' });
    expect(String(retried.error)).toMatch(/exited with code 3 during read_thing/);
    expect((await serverRow(gw, 'crashy')).restarts).toBe(2);
    await expectBackTo(gw, baseline);
  });

  it('does not retry when retry_on_crash is off', async () => {
    const marker = join(scratch, `crashed-${randomUUID()}`);
    const gw = await startGateway(`
[supervisor]
restart_backoff_min = 50
retry_on_crash = false

[[backends]]
name = "crashy"
command = "node"
args = [${q(fixture('crash-server'))}]
env = { CRASH_ONCE_FILE = ${q(marker)} }
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'crashy');
    const read = await gw.request('POST', '/call', { server: 'crashy', tool: 'read_thing', arguments: {} });
    expect(read.status).toBe(503);
    expect(read.body).toMatchObject({ code: 'BACKEND_UNAVAILABLE', crashed: true });
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.restarted === true && l.backend === 'crashy');
    const again = await gw.request('POST', '/call', { server: 'crashy', tool: 'read_thing', arguments: {} });
    expect(resultText(again.body)).toBe('thing');
    expect(gw.logs.some((l) => l.retried === true)).toBe(false);
  });

  it('kills the grandchildren of a crashed backend, and restarts it', async () => {
    const mark = `STONEGATE_TEST_MARK_${randomUUID()}`;
    const gw = await startGateway(`
[supervisor]
restart_backoff_min = 50

[[backends]]
name = "family"
command = "node"
args = [${q(fixture('grandchild-server'))}]
env = { ${mark} = "1" }
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'family');
    const baseline = footprint(gw);
    const first = await gw.request('POST', '/call', { server: 'family', tool: 'grandchild_pid', arguments: {} });
    const grandchild = Number(resultText(first.body));
    expect(isAlive(grandchild)).toBe(true);
    const leader = (await serverRow(gw, 'family')).pid ?? -1;
    process.kill(leader, 'SIGKILL'); // the leader alone: its child would be orphaned
    expect(await waitForExit(grandchild, 5_000)).toBe(true);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.restarted === true && l.backend === 'family');
    const second = await gw.request('POST', '/call', { server: 'family', tool: 'grandchild_pid', arguments: {} });
    expect(Number(resultText(second.body))).not.toBe(grandchild);
    // The new leader and its grandchild; nothing else of the old family.
    await eventually(() => processesWithMarker(mark).length === 2);
    await expectBackTo(gw, baseline);
    // A graceful stop kills the family's group; stopAll's SIGKILL would leave the grandchild to the next start's sweep.
    await gw.stop();
    await eventually(() => processesWithMarker(mark).length === 0);
  });
});

describe('a pool of several processes', () => {
  it('spreads concurrent calls over max processes, and reaps the extra one after idle_timeout', async () => {
    const gw = await startGateway(`
[[backends]]
name = "counter"
command = "node"
args = [${q(fixture('counter-server'))}]
pool = { min = 1, max = 2, idle_timeout = 0.5 }
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'counter');
    const baseline = footprint(gw);
    const gwPid = gw.proc.pid ?? -1;
    expect(childPids(gwPid)).toHaveLength(1);

    const calls = await Promise.all([0, 1].map(() => gw.request('POST', '/call', { server: 'counter', tool: 'slow_pid', arguments: { ms: 1_500 } })));
    const pids = calls.map((c) => Number(resultText(c.body)));
    expect(new Set(pids).size).toBe(2);
    expect(childPids(gwPid).sort()).toEqual([...pids].sort());
    expect((await serverRow(gw, 'counter')).pool.size).toBe(2);

    // Idle above min: one process goes, one stays.
    await eventually(async () => (await serverRow(gw, 'counter')).pool.size === 1, 10_000);
    await eventually(() => pids.filter((pid) => isAlive(pid)).length === 1, 10_000);
    expect((await gw.request('POST', '/call', { server: 'counter', tool: 'ok', arguments: {} })).status).toBe(200);
    await expectBackTo(gw, baseline);
  });
});
