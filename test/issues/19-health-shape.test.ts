import { afterAll, describe, expect, it } from 'vitest';
import { backendChecks, worstOf } from '../../src/views/health-report.js';
import { demoBackend, eventually, startGateway, stopAll } from '../helpers/harness.js';

// #19: GET /health has one shape — `status` ok | degraded | down, each
// condition a named entry under `checks` with its detail; only down is 503.

describe('the /health shape', () => {
  afterAll(stopAll);

  it('status is the worst of the named checks', () => {
    expect(worstOf({})).toBe('ok');
    expect(worstOf({ a: { status: 'ok', detail: '' }, b: { status: 'degraded', detail: '' } })).toBe('degraded');
    expect(worstOf({ a: { status: 'down', detail: '' }, b: { status: 'degraded', detail: '' } })).toBe('down');
    expect(backendChecks({ total: 3, running: 3, circuitsNotClosed: 0 })).toMatchObject({ backends: { status: 'ok' }, circuits: { status: 'ok' } });
    const bad = backendChecks({ total: 3, running: 2, circuitsNotClosed: 1 });
    expect(bad.backends).toMatchObject({ status: 'degraded', detail: expect.stringContaining('2 of 3') });
    expect(bad.circuits).toMatchObject({ status: 'degraded', detail: expect.stringContaining('1 circuit') });
  });

  it('names each condition under checks: all ok, then a failed backend makes backends (and so status) degraded, 200', async () => {
    const gw = await startGateway(`${demoBackend()}\n`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const ok = await gw.request('GET', '/health');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'ok', checks: { backends: { status: 'ok' }, circuits: { status: 'ok' }, store: { status: 'ok' } } });
    for (const check of Object.values(ok.body.checks as Record<string, { detail: unknown }>)) expect(typeof check.detail).toBe('string');

    const bad = await startGateway(`[[backends]]\nname = "ghost"\ncommand = "stonegate-no-such-command-anywhere"\n\n${demoBackend()}\n`);
    await bad.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const degraded = await eventually(async () => {
      const h = await bad.request('GET', '/health');
      return h.body.status === 'degraded' ? h : undefined;
    });
    expect(degraded.status).toBe(200);
    expect(degraded.body.checks).toMatchObject({ backends: { status: 'degraded', detail: expect.stringContaining('1 of 2') }, store: { status: 'ok' } });
    // /health needs no token and names no backend.
    expect(JSON.stringify(degraded.body)).not.toContain('ghost');
  });
});
