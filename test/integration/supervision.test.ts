import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { demoBackend, eventually, fixture, processesWithMarker, q, startGateway, stopAll } from '../helpers/harness.js';

interface ServerRow {
  name: string;
  status: string;
  pid: number | null;
  restarts: number;
  last_error: string | null;
  last_stderr: string[];
}

afterEach(stopAll);

describe('supervision of real child processes', () => {
  it('restarts a backend killed with SIGKILL, and the next call succeeds', async () => {
    const gw = await startGateway(`
[supervisor]
restart_backoff_min = 50

${demoBackend()}
`);
    await gw.waitForLog((l) => l.msg === 'backend ready');
    const before = ((await gw.request('GET', '/server/list')).body.servers as ServerRow[])[0]!;
    expect(before.pid).toBeGreaterThan(0);
    process.kill(before.pid!, 'SIGKILL');
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.restarted === true);
    const { status, body } = await gw.request('POST', '/call', { server: 'demo', tool: 'pid', arguments: {} });
    expect(status).toBe(200);
    const pid = Number((body.result as { content: { text: string }[] }).content[0]?.text);
    expect(pid).not.toBe(before.pid);
    const after = ((await gw.request('GET', '/server/list')).body.servers as ServerRow[])[0]!;
    expect(after).toMatchObject({ status: 'running', restarts: 1, pid });
    expect(after.last_error).toMatch(/killed by SIGKILL/);
  });

  it('fails a call in flight when its backend crashes, with the exit code, then serves again', async () => {
    const gw = await startGateway(`
[supervisor]
restart_backoff_min = 50

[[backends]]
name = "crashy"
command = "node"
args = [${q(fixture('crash-server'))}]
`);
    await gw.waitForLog((l) => l.msg === 'backend ready');
    const { status, body } = await gw.request('POST', '/call', { server: 'crashy', tool: 'crash_mid_call', arguments: { delay_ms: 20 } });
    expect(status).toBe(503);
    expect(body.code).toBe('BACKEND_UNAVAILABLE');
    expect(body.error).toMatch(/exited with code 3/);
    const next = await eventually(async () => {
      const r = await gw.request('POST', '/call', { server: 'crashy', tool: 'ok', arguments: {} });
      return r.status === 200 ? r : undefined;
    });
    expect(next.body.result).toMatchObject({ content: [{ text: 'ok' }] });
  });

  it('marks a backend whose command does not exist failed while the others serve', async () => {
    const gw = await startGateway(`
[[backends]]
name = "ghost"
command = "stonegate-no-such-command-anywhere"

${demoBackend()}
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const ghost = await eventually(async () =>
      ((await gw.request('GET', '/server/list')).body.servers as ServerRow[]).find((s) => s.name === 'ghost' && s.status === 'failed'),
    );
    expect(ghost.last_error).toMatch(/command 'stonegate-no-such-command-anywhere' not found/);
    const health = await gw.request('GET', '/health');
    expect(health.body).toMatchObject({ status: 'degraded', backends_total: 2, backends_healthy: 1 });
    const call = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'still here' } });
    expect(call.status).toBe(200);
  });

  it('moves a backend that keeps crashing at start to failed, keeping its last stderr lines', async () => {
    const gw = await startGateway(`
[supervisor]
restart_backoff_min = 10
restart_backoff_max = 20
crash_loop_restarts = 2

[[backends]]
name = "dies"
command = "node"
args = ["-e", "process.stderr.write('boom: missing API key\\\\n'); process.exit(7)"]
`);
    const row = await eventually(async () => ((await gw.request('GET', '/server/list')).body.servers as ServerRow[]).find((s) => s.status === 'failed'));
    expect(row.last_error).toMatch(/exited with code 7/);
    expect(row.last_error).toMatch(/gave up after 2 failures/);
    expect(row.last_error).toMatch(/boom: missing API key/);
  });

  it('leaves no process behind after SIGTERM, grandchildren included', async () => {
    const marker = `STONEGATE_TEST_MARK_${randomUUID()}`;
    const gw = await startGateway(`
${demoBackend()}
env = { ${marker} = "1" }
pool = { min = 2, max = 2 }

[[backends]]
name = "family"
command = "node"
args = [${q(fixture('grandchild-server'))}]
env = { ${marker} = "1" }
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'family');
    const grandchild = await gw.request('POST', '/call', { server: 'family', tool: 'grandchild_pid', arguments: {} });
    const grandchildPid = Number((grandchild.body.result as { content: { text: string }[] }).content[0]?.text);
    const before = processesWithMarker(marker);
    expect(before).toContain(grandchildPid);
    expect(before.length).toBeGreaterThanOrEqual(3);
    const exit = await gw.stop('SIGTERM');
    expect(exit.code).toBe(0);
    await eventually(() => processesWithMarker(marker).length === 0, 5_000);
  });
});

describe('POST /server/stop, /server/start, /server/restart', () => {
  it('stops, starts and restarts a backend at runtime', async () => {
    const gw = await startGateway(`
${demoBackend()}
`);
    await gw.waitForLog((l) => l.msg === 'backend ready');
    const stopped = await gw.request('POST', '/server/stop', { name: 'demo' });
    expect(stopped.body).toMatchObject({ ok: true, server: { status: 'stopped', tool_count: 0, pid: null } });
    const refused = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'x' } });
    expect(refused.body.code).toBe('BACKEND_UNAVAILABLE');
    expect(refused.body.error).toMatch(/stopped/);
    const started = await gw.request('POST', '/server/start', { name: 'demo' });
    expect(started.body).toMatchObject({ ok: true, server: { status: 'running' } });
    const before = (started.body.server as ServerRow).pid;
    const restarted = await gw.request('POST', '/server/restart', { name: 'demo' });
    expect(restarted.body).toMatchObject({ ok: true, server: { status: 'running' } });
    expect((restarted.body.server as ServerRow).pid).not.toBe(before);
    const unknown = await gw.request('POST', '/server/restart', { name: 'nope' });
    expect(unknown.status).toBe(404);
    const bad = await gw.request('POST', '/server/start', {});
    expect(bad.body.code).toBe('BAD_REQUEST');
  });
});

describe('stop drains calls in flight', () => {
  it('lets a call in flight finish within drain_timeout, refuses new calls, and cancels what outlasts it', async () => {
    const gw = await startGateway(`
[supervisor]
drain_timeout = 1500

${demoBackend()}
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const short = gw.request('POST', '/call', { server: 'demo', tool: 'sleep', arguments: { ms: 400 } });
    const long = gw.request('POST', '/call', { server: 'demo', tool: 'sleep', arguments: { ms: 5_000 } });
    await eventually(async () => ((await gw.request('GET', '/server/list')).body.servers as { pool: { inflight: number } }[])[0]?.pool.inflight === 2);
    const stopping = gw.request('POST', '/server/stop', { name: 'demo' });
    await eventually(async () => ((await gw.request('GET', '/server/list')).body.servers as ServerRow[])[0]?.status === 'stopped');
    const refused = await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'late' } });
    expect(refused.body.code).toBe('BACKEND_UNAVAILABLE');
    expect((await short).status).toBe(200);
    const cancelled = await long;
    expect(cancelled.body.code).toBe('BACKEND_UNAVAILABLE');
    expect((await stopping).body).toMatchObject({ ok: true, server: { status: 'stopped' } });
    await gw.waitForLog((l) => l.msg === 'calls still in flight after drain_timeout are cancelled');
  });
});
