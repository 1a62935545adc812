import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, fixture, q, type RunningGateway, resultText, serverRow, startGateway, stopAll } from '../helpers/harness.js';

// Issue #30, REST per-call costs: a REST call on the hot path
// (src/http/hot-routes.ts) hands the router a CallCancel
// (src/router/call-cancel.ts) instead of an AbortController's signal, and
// the router's Deadline makes an AbortSignal only for the SDK path: a plain
// call on a stdio link makes none. The client going away still cancels the
// call at the backend (notifications/cancelled).

const CONFIG = `
[gateway]
request_timeout = 5000

[[backends]]
name = "probe"
command = "node"
args = [${q(fixture('lean-probe-server'))}]
`;

const abortLog = join(tmpdir(), `stonegate-abort-count-${process.pid}.log`);
let gw: RunningGateway;

const controllers = (): number =>
  readFileSync(abortLog, 'utf8')
    .split('\n')
    .filter((l) => l === 'AbortController').length;

beforeAll(async () => {
  writeFileSync(abortLog, '');
  gw = await startGateway(CONFIG, { env: { STONEGATE_ABORT_LOG: abortLog, NODE_OPTIONS: `--import ${fixture('abort-count')}` } });
  await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'probe');
});
afterAll(stopAll);

describe('#30 the REST call path', () => {
  it('makes no AbortController for a plain REST call', async () => {
    // Warm: the first call may open what later calls reuse.
    expect((await gw.request('POST', '/call', { server: 'probe', tool: 'id' })).status).toBe(200);
    const before = controllers();
    for (let i = 0; i < 20; i += 1) {
      const answer = await gw.request('POST', '/call', { server: 'probe', tool: 'id' });
      expect(answer.status).toBe(200);
      expect(JSON.parse(resultText(answer.body))).toMatchObject({ id: expect.stringMatching(/^sg\d+$/) });
    }
    expect(controllers() - before).toBe(0);
  });

  it('still cancels the call at the backend when the REST client goes away', async () => {
    const cancelled = gw.waitForLog((l) => l.backend === 'probe' && /^lean-probe: cancelled "sg\d+"/.test(l.msg));
    const body = JSON.stringify({ server: 'probe', tool: 'wait' });
    const url = new URL('/call', gw.url);
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    req.on('error', () => undefined); // destroyed below
    req.end(body);
    // The backend has the call once the gateway's pool shows it in flight.
    await eventually(async () => ((await serverRow(gw, 'probe')).pool as { inflight?: number }).inflight === 1);
    req.destroy();
    await cancelled;
    await eventually(async () => ((await serverRow(gw, 'probe')).pool as { inflight?: number }).inflight === 0);
    const log = (await gw.request('GET', '/log?server=probe&limit=1')).body as { calls: { tool: string; code: string | null }[] };
    expect(log.calls[0]).toMatchObject({ tool: 'wait', code: 'CANCELLED' });
  });
});
