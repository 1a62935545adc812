import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, type LogLine, q, type RunningGateway, serverRow, startGateway, stopAll } from '../helpers/harness.js';

// Issue #19, item 9: a call cut by POST /server/stop or /server/remove was
// told "being restarted, retry shortly" with Retry-After: 1 while nothing
// restarted, and counted as the backend's failure. It is now told what
// happened, without Retry-After, and counts neither toward the breaker nor
// the backend's errors. A stop through the API is remembered as
// enabled = false (and a start as enabled = true) across a gateway restart.
//
// The cut calls would run for 10 minutes (and time out after as long): their
// answer can only come from the stop or the remove.

const dir = mkdtempSync(join(tmpdir(), 'stonegate-19-stop-'));
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const counter = (name: string, extra = ''): string => `
[[backends]]
name = ${q(name)}
command = "node"
args = [${q(fixture('counter-server'))}]
timeout = 600000
circuit_breaker = { failure_threshold = 1, reset_timeout = 60 }
${extra}`;

const TOML = ['[supervisor]\ndrain_timeout = 0', counter('cut'), counter('gone'), counter('sleepy'), counter('dormant', 'enabled = false')].join('\n');

async function start(...ready: string[]): Promise<RunningGateway> {
  const gw = await startGateway(TOML, { dir, keep: true });
  for (const name of ready) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
  return gw;
}

/** Starts a 10-minute call on `server`; resolves once the backend has received it, with the call's answer to come. */
async function longCall(gw: RunningGateway, server: string): Promise<{ pending: ReturnType<RunningGateway['request']> }> {
  const received = (l: LogLine): boolean => l.backend === server && l.msg === 'counter: call slow';
  const earlier = new Set(gw.logs.filter(received));
  const pending = gw.request('POST', '/call', { server, tool: 'slow', arguments: { ms: 600_000 } });
  await gw.waitForLog((l) => received(l) && !earlier.has(l));
  return { pending };
}

describe('#19.9 calls cut by an operator', () => {
  let gw: RunningGateway;

  it('a call cut by POST /server/stop says so, without Retry-After, and is no failure of the backend', async () => {
    gw = await start('cut', 'gone', 'sleepy');
    const { pending } = await longCall(gw, 'cut');
    expect((await gw.request('POST', '/server/stop', { name: 'cut' })).status).toBe(200);
    const { status, headers, body } = await pending;
    expect(status).toBe(503);
    expect(body.code).toBe('BACKEND_UNAVAILABLE');
    expect(body.cut_by).toBe('stop');
    expect(body.error).toMatch(/was stopped \(POST \/server\/stop\) while slow was running; the call was cut off/);
    expect(body.error).not.toMatch(/restart|retry shortly/);
    expect(headers.get('retry-after')).toBeNull();

    // A call while stopped is refused, and is no failure either.
    const refused = await gw.request('POST', '/call', { server: 'cut', tool: 'ok', arguments: {} });
    expect(refused.body.error).toMatch(/is stopped; start it with POST \/server\/start/);

    const stats = (await gw.request('GET', '/stats')).body.backends as Record<string, Record<string, number>>;
    expect(stats.cut).toMatchObject({ calls: 2, errors: 0, stopped_calls: 2, error_rate: 0 });
    expect((await gw.request('POST', '/server/start', { name: 'cut' })).status).toBe(200);
    // failure_threshold is 1: had either counted, the circuit would be open.
    expect(await serverRow(gw, 'cut')).toMatchObject({ status: 'running', circuit: 'closed' });
    expect((await gw.request('POST', '/call', { server: 'cut', tool: 'ok', arguments: {} })).status).toBe(200);
  });

  it('a call cut by POST /server/restart says so, with Retry-After: 1 (it runs again), and is no failure of the backend', async () => {
    const { pending } = await longCall(gw, 'cut');
    expect((await gw.request('POST', '/server/restart', { name: 'cut' })).status).toBe(200);
    const { status, headers, body } = await pending;
    expect(status).toBe(503);
    expect(body.cut_by).toBe('restart');
    expect(body.error).toMatch(/was restarted \(POST \/server\/restart\) while slow was running; the call was cut off; call again once it runs/);
    expect(headers.get('retry-after')).toBe('1');
    expect(await serverRow(gw, 'cut')).toMatchObject({ status: 'running', circuit: 'closed' });
  });

  it('a call cut by POST /server/remove says so, without Retry-After', async () => {
    const { pending } = await longCall(gw, 'gone');
    expect((await gw.request('POST', '/server/remove', { name: 'gone' })).status).toBe(200);
    const { status, headers, body } = await pending;
    expect(status).toBe(503);
    expect(body.code).toBe('BACKEND_UNAVAILABLE');
    expect(body.cut_by).toBe('remove');
    expect(body.error).toMatch(/was removed \(POST \/server\/remove\) while slow was running; the call was cut off/);
    expect(body.error).not.toMatch(/restart|retry shortly/);
    expect(headers.get('retry-after')).toBeNull();
  });

  it('a stop through the API stays across a gateway restart (enabled = false), and a start too', async () => {
    expect((await gw.request('POST', '/server/stop', { name: 'sleepy' })).status).toBe(200);
    expect((await gw.request('POST', '/server/start', { name: 'dormant' })).status).toBe(200);
    expect(await serverRow(gw, 'sleepy')).toMatchObject({ status: 'stopped', enabled: false });
    expect(await serverRow(gw, 'dormant')).toMatchObject({ status: 'running', enabled: true });
    // A backend an operator stopped is no ill health.
    expect((await gw.request('GET', '/health')).body.status).toBe('ok');
    await gw.stop();

    gw = await start('cut', 'dormant');
    expect(await serverRow(gw, 'sleepy')).toMatchObject({ status: 'stopped', enabled: false });
    expect(await serverRow(gw, 'dormant')).toMatchObject({ status: 'running', enabled: true });

    expect((await gw.request('POST', '/server/start', { name: 'sleepy' })).status).toBe(200);
    await gw.stop();
    gw = await start('cut', 'sleepy', 'dormant');
    expect(await serverRow(gw, 'sleepy')).toMatchObject({ status: 'running', enabled: true });
  });
});
