import { afterEach, describe, expect, it } from 'vitest';
import { fixture, q, startGateway, stopAll } from '../helpers/harness.js';
import { expectBackTo, footprint } from '../helpers/proc.js';

// Health checks: a backend that stays alive but stops answering is only
// found by MCP ping. It goes degraded, then is restarted.

interface Row {
  name: string;
  status: string;
  pid: number | null;
  restarts: number;
  last_error: string | null;
}

afterEach(stopAll);

describe('health checks', () => {
  it('marks a backend that stops answering pings degraded, restarts it after health_failures, and retries a read-only call cut off by the restart', async () => {
    const gw = await startGateway(`
[supervisor]
health_interval = 0.2
health_timeout = 300
health_failures = 2
restart_backoff_min = 50

[[backends]]
name = "deaf"
command = "node"
args = [${q(fixture('deaf-server'))}]
timeout = 10000

[[backends]]
name = "quiet"
command = "node"
args = [${q(fixture('deaf-server'))}]
health_check = false
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'deaf');
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'quiet');
    const baseline = footprint(gw);
    const rows = async (): Promise<Row[]> => (await gw.request('GET', '/server/list')).body.servers as Row[];
    const before = (await rows()).find((r) => r.name === 'deaf');

    // Pings pass while it answers.
    await gw
      .waitForLog((l) => l.backend === 'deaf' && l.msg === 'health check failed', 600)
      .then(
        () => expect.fail('a healthy backend failed a health check'),
        () => undefined,
      );
    expect((await gw.request('POST', '/call', { server: 'deaf', tool: 'go_deaf', arguments: {} })).status).toBe(200);
    // A read-only call that the deaf process will never answer: cut off by
    // the restart, retried on the new process.
    const pending = gw.request('POST', '/call', { server: 'deaf', tool: 'ok', arguments: {} });

    await gw.waitForLog((l) => l.backend === 'deaf' && l.msg === 'backend degraded');
    await gw.waitForLog((l) => l.backend === 'deaf' && l.msg === 'backend unhealthy; restarting it');
    await gw.waitForLog((l) => l.backend === 'deaf' && l.msg === 'backend ready' && l.restarted === true);
    const answered = await pending;
    expect(answered.status).toBe(200);
    await gw.waitForLog((l) => l.backend === 'deaf' && l.retried === true && l.tool === 'ok');

    const after = (await rows()).find((r) => r.name === 'deaf');
    expect(after).toMatchObject({ status: 'running', restarts: 1 });
    expect(after?.pid).not.toBe(before?.pid);
    expect(after?.last_error).toMatch(/stopped answering health checks \(2 failed in a row: no answer to ping within 300 ms\)/);
    expect((await gw.request('POST', '/call', { server: 'deaf', tool: 'ok', arguments: {} })).status).toBe(200);

    // health_check = false: the same deafness goes unnoticed (the call times out instead).
    expect((await gw.request('POST', '/call', { server: 'quiet', tool: 'go_deaf', arguments: {} })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await rows()).find((r) => r.name === 'quiet')).toMatchObject({ status: 'running', restarts: 0 });
    expect(gw.logs.some((l) => l.backend === 'quiet' && l.msg === 'health check failed')).toBe(false);
    await expectBackTo(gw, baseline);
  });
});
