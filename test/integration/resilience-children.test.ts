import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { demoBackend, eventually, fixture, processesWithMarker, q, resultText, serverRow, startGateway, stopAll } from '../helpers/harness.js';
import { expectBackTo, footprint, rssKb } from '../helpers/proc.js';

// Misbehaving children: junk on stdout, an oversized line, a stderr flood,
// a process that never initializes. Each one is contained: the gateway and
// the other backends keep serving, and nothing leaks.

afterEach(stopAll);

describe('misbehaving children', () => {
  it('skips garbage and responses with unknown ids on stdout, and restarts a backend that writes a line over max_line_bytes', async () => {
    const gw = await startGateway(`
[supervisor]
max_line_bytes = 65536
restart_backoff_min = 50

[[backends]]
name = "garbage"
command = "node"
args = [${q(fixture('garbage-server'))}]
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'garbage');
    const baseline = footprint(gw);
    const pid = (await serverRow(gw, 'garbage')).pid;

    // Every answer comes wrapped in junk, including responses to ids nobody sent.
    for (let i = 0; i < 5; i += 1) {
      const { status, body } = await gw.request('POST', '/call', { server: 'garbage', tool: 'garbage', arguments: { n: 50 } });
      expect(status).toBe(200);
      expect(resultText(body)).toBe('ok');
    }
    const huge = await gw.request('POST', '/call', { server: 'garbage', tool: 'huge_line', arguments: { bytes: 60_000 } });
    expect(huge.status).toBe(200); // under the limit: fine
    expect((await serverRow(gw, 'garbage')).pid).toBe(pid);
    expect((await serverRow(gw, 'garbage')).restarts).toBe(0);
    const warned = await gw.waitForLog((l) => l.msg === 'backend wrote a non-JSON-RPC line on stdout; skipped');
    expect(warned.backend).toBe('garbage');
    // Rate-limited: far fewer warnings than junk lines (hundreds).
    expect(gw.logs.filter((l) => l.msg === warned.msg).length).toBeLessThan(5);

    const over = await gw.request('POST', '/call', { server: 'garbage', tool: 'huge_line', arguments: { bytes: 100_000 } });
    expect(over.status).toBe(503);
    expect(over.body.code).toBe('BACKEND_UNAVAILABLE');
    expect(over.body.error).toMatch(/wrote a line over 65536 bytes on stdout/);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.restarted === true && l.backend === 'garbage');
    const after = await serverRow(gw, 'garbage');
    expect(after.pid).not.toBe(pid);
    expect(after.last_error).toMatch(/max_line_bytes/);
    expect((await gw.request('POST', '/call', { server: 'garbage', tool: 'ok', arguments: {} })).status).toBe(200);
    await expectBackTo(gw, baseline);
  });

  it('drains a stderr flood with bounded memory, logging cut lines, while calls keep working', async () => {
    const gw = await startGateway(`
[[backends]]
name = "flood"
command = "node"
args = [${q(fixture('stderr-flood-server'))}]
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'flood');
    const baseline = footprint(gw);
    const gwPid = gw.proc.pid ?? -1;
    const before = rssKb(gwPid);
    // A fixed number of calls, paced as before (about 2.5 s unloaded), not a
    // wall-clock window: the same work however busy the machine is.
    const calls = 40;
    for (let i = 0; i < calls; i += 1) {
      const { status } = await gw.request('POST', '/call', { server: 'flood', tool: 'ok', arguments: {} });
      expect(status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const line = await gw.waitForLog((l) => l.backend === 'flood' && l.stream === 'stderr' && /^flood \d+ z+… \(\d{6} bytes\)$/.test(l.msg));
    expect(line.msg.length).toBeLessThan(2_100);
    const after = rssKb(gwPid);
    // The child wrote ~2.5 MB of stderr meanwhile; the gateway kept none of it.
    console.log(`[resilience] stderr flood: ${calls} calls ok; gateway RSS ${Math.round(before / 1024)} MB → ${Math.round(after / 1024)} MB`);
    expect(after - before).toBeLessThan(200 * 1024); // sanity bound only
    expect((await serverRow(gw, 'flood')).restarts).toBe(0);
    await expectBackTo(gw, baseline);
  });

  it('fails a backend that never answers initialize within start_timeout, while another backend serves', async () => {
    const mark = `STONEGATE_TEST_MARK_${randomUUID()}`;
    const gw = await startGateway(`
[supervisor]
restart_backoff_min = 20
restart_backoff_max = 40
crash_loop_restarts = 2

[[backends]]
name = "mute"
command = "node"
args = [${q(fixture('no-init-server'))}]
env = { ${mark} = "1" }
start_timeout = 300

${demoBackend()}
`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const restarting = await gw.waitForLog((l) => l.backend === 'mute' && l.msg === 'backend will restart');
    expect(String(restarting.error)).toMatch(/failed to initialize: no answer to initialize within 300 ms/);
    const failed = await eventually(async () => {
      const r = await serverRow(gw, 'mute');
      return r.status === 'failed' ? r : undefined;
    });
    expect(failed.last_error).toMatch(/no answer to initialize within 300 ms/);
    expect(failed.last_error).toMatch(/gave up after 2 failures/);
    expect((await gw.request('POST', '/call', { server: 'demo', tool: 'echo', arguments: { text: 'fine' } })).status).toBe(200);
    const refused = await gw.request('POST', '/call', { server: 'mute', tool: 'anything', arguments: {} });
    expect(refused.body.code).toBe('BACKEND_UNAVAILABLE');
    // No process of it is left.
    await eventually(() => processesWithMarker(mark).length === 0, 5_000);
  });
});
