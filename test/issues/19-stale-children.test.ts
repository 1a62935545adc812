import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parentDeathSignal } from '../../src/supervisor/parent-death.js';
import { eventually, fixture, processesWithMarker, q, type RunningGateway, resultText, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #19, item 12: children outlived a SIGKILLed gateway. A backend that
 * ignores stdin EOF and SIGTERM, or the grandchild of one that exited on
 * EOF, survived `kill -9` of the gateway and its next start. Now the
 * gateway keeps a ledger of its children's process groups in data_dir and
 * its next start kills the groups a dead gateway left — never a group whose
 * leader's start time differs (a reused pid) nor one of a gateway that
 * still runs. Processes are found by an environment marker their children
 * inherit.
 */

const MARKER = `STONEGATE_STALE_TEST=${process.pid}-${Date.now()}`;
const [markerKey, markerValue] = MARKER.split('=') as [string, string];

function backends(): string {
  return ['stubborn', 'orphan']
    .map(
      (mode) =>
        `[[backends]]\nname = ${q(mode)}\ncommand = "node"\nargs = [${q(fixture('stubborn-server'))}]\nenv = { MODE = ${q(mode)}, ${markerKey} = ${q(markerValue)} }`,
    )
    .join('\n\n');
}

async function pidsOf(gw: RunningGateway, server: string): Promise<{ leader: number; grandchild: number }> {
  const answer = await gw.request('POST', '/call', { server, tool: 'pids', arguments: {} });
  expect(answer.status).toBe(200);
  return JSON.parse(resultText(answer.body)) as { leader: number; grandchild: number };
}

/** Start time of a live process (field 22 of /proc/<pid>/stat). */
function startOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

const strays: number[] = [];
afterAll(async () => {
  // Only real pids: kill(-1) would reach every process.
  for (const pid of [...strays, ...processesWithMarker(MARKER)].filter((p) => p > 1)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await stopAll();
});

describe('#19 item 12: the next start kills what a SIGKILLed gateway left running', () => {
  it('kills a stubborn backend and the grandchild of one that exited, left by kill -9 of the gateway', async () => {
    const first = await startGateway(backends(), { keep: true });
    for (const name of ['stubborn', 'orphan']) await first.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
    const left = [...Object.values(await pidsOf(first, 'stubborn')), ...Object.values(await pidsOf(first, 'orphan'))];
    expect(new Set(processesWithMarker(MARKER))).toEqual(new Set(left));

    const stubbornLeader = (await pidsOf(first, 'stubborn')).leader;
    await first.stop('SIGKILL');
    // The orphan's leader exits on stdin EOF; both grandchildren stay, and
    // the stubborn leader too unless it got a parent-death signal (setpriv).
    if (parentDeathSignal()) await eventually(() => !processesWithMarker(MARKER).includes(stubbornLeader), 5_000);
    const survivors = processesWithMarker(MARKER);
    expect(survivors.length).toBeGreaterThanOrEqual(2);

    // The next start, on the same data_dir, with no backends of its own.
    const next = await startGateway('', { dir: first.dir });
    await eventually(() => processesWithMarker(MARKER).length === 0, 5_000);
    const swept = next.logs.filter((l) => l.msg.startsWith('killed the processes of a backend left running'));
    expect(swept.map((l) => l.backend).sort()).toEqual(['orphan', 'stubborn']);
    // Its own ledger is empty (no children), so there is none; a clean stop leaves none either.
    expect(readdirSync(join(next.dir, 'data', 'children'))).toEqual([]);
    await next.stop();
  });

  it('never kills a group whose leader has another start time (a reused pid), nor the children of a gateway that still runs', async () => {
    const gw = await startGateway('', { keep: true });
    await gw.stop();
    // Two unrelated processes, each leading its own group, that the ledgers name.
    const spawnLeader = (): number => {
      const proc = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
      proc.unref();
      if (proc.pid === undefined) throw new Error('could not spawn a stand-in process');
      strays.push(proc.pid);
      return proc.pid;
    };
    const reused = spawnLeader();
    const ofLiveGateway = spawnLeader();
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    const dir = join(gw.dir, 'data', 'children');
    mkdirSync(dir, { recursive: true });
    // A dead gateway's ledger whose group id is now another process (start time differs).
    writeFileSync(
      join(dir, '999999999.json'),
      JSON.stringify({ boot_id: bootId, gateway: { pid: 999_999_999, start: 1 }, groups: [{ pgid: reused, start: startOf(reused) - 1, backend: 'old' }] }),
    );
    // The ledger of a gateway that runs (this test process stands in for it): left alone.
    writeFileSync(
      join(dir, `${process.pid}.json`),
      JSON.stringify({
        boot_id: bootId,
        gateway: { pid: process.pid, start: startOf(process.pid) },
        groups: [{ pgid: ofLiveGateway, start: startOf(ofLiveGateway), backend: 'live' }],
      }),
    );

    // Torn or foreign files: dropped, and the start goes on.
    writeFileSync(join(dir, '999999998.json'), '{"boot_id": "');
    writeFileSync(join(dir, '999999997.json'), JSON.stringify({ boot_id: bootId, gateway: null, groups: [null, { pgid: 'x' }] }));

    const next = await startGateway('', { dir: gw.dir });
    expect(next.logs.some((l) => l.msg.startsWith('killed the processes of a backend left running'))).toBe(false);
    expect(startOf(reused)).toBeGreaterThan(0); // alive: /proc/<pid>/stat is readable
    expect(startOf(ofLiveGateway)).toBeGreaterThan(0);
    for (const dropped of ['999999999.json', '999999998.json', '999999997.json']) expect(existsSync(join(dir, dropped)), dropped).toBe(false);
    expect(existsSync(join(dir, `${process.pid}.json`))).toBe(true); // the live one's kept
    await next.stop();
  });
});
