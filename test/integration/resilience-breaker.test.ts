import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { expectBackTo, type Footprint, footprint } from '../helpers/proc.js';

// Circuit breakers and per-call timeouts against real child processes. The
// failures are malformed answers (FAIL_AS = "malformed"): a well-formed
// JSON-RPC error is the backend's verdict and never counts (issue #19). One
// gateway serves every test (each on its own backend); after each test its
// child processes and file descriptors are back to what they were.

interface Row {
  name: string;
  circuit: string;
  status: string;
  restarts: number;
}

let gw: RunningGateway;
let baseline: Footprint;

const call = (server: string, tool: string, args: Record<string, unknown> = {}): ReturnType<RunningGateway['request']> =>
  gw.request('POST', '/call', { server, tool, arguments: args });

async function row(name: string): Promise<Row> {
  const rows = (await gw.request('GET', '/server/list')).body.servers as Row[];
  const found = rows.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no backend ${name}`);
  return found;
}

/**
 * A call that stays in flight at the backend until `release()` (the counter
 * backend's wait_file): what the test does while it is in flight does not
 * race a timer, however slow the machine.
 */
const heldDir = mkdtempSync(join(tmpdir(), 'stonegate-held-'));
let heldCount = 0;
function held(server: string): { answer: ReturnType<RunningGateway['request']>; release: () => void } {
  heldCount += 1;
  const file = join(heldDir, `release-${heldCount}`);
  return { answer: call(server, 'wait_file', { path: file }), release: () => writeFileSync(file, '') };
}

/** How many calls the counter backend has received (the count call itself is not one). */
async function served(server: string): Promise<number> {
  const { status, body } = await call(server, 'count');
  expect(status).toBe(200);
  return Number((body.result as { content: { text: string }[] }).content[0]?.text);
}

beforeAll(async () => {
  gw = await startGateway(`
[[backends]]
name = "breaker"
command = "node"
args = [${q(fixture('counter-server'))}]
env = { FAIL_AS = "malformed" }
# reset_timeout is the open window in which the test's six requests must all be refused: 2 s, not
# less, so that a loaded machine's slow requests still fall inside it (the window's length is not
# what the test checks; that it opens, refuses, probes once and closes is).
circuit_breaker = { failure_threshold = 3, reset_timeout = 2, success_threshold = 2 }

[[backends]]
name = "innocent"
command = "node"
args = [${q(fixture('counter-server'))}]
circuit_breaker = { failure_threshold = 2, reset_timeout = 60 }
pool = { max = 1, max_concurrency = 1, acquire_timeout = 100 }

[[backends]]
name = "every3"
command = "node"
args = [${q(fixture('flaky-server'))}]
env = { FAIL_EVERY = "3", FAIL_AS = "malformed" }
circuit_breaker = { failure_threshold = 2, reset_timeout = 60 }

[[backends]]
name = "rate"
command = "node"
args = [${q(fixture('flaky-server'))}]
env = { FAIL_EVERY = "2", FAIL_AS = "malformed" }
circuit_breaker = { failure_threshold = 100, error_threshold_percentage = 40, volume_threshold = 6, rolling_window = 30, reset_timeout = 60 }

[[backends]]
name = "hang"
command = "node"
args = [${q(fixture('hang-server'))}]
timeout = 400
circuit_breaker = { failure_threshold = 2 }
`);
  for (const name of ['breaker', 'innocent', 'every3', 'rate', 'hang']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
  baseline = footprint(gw);
});
afterEach(async () => expectBackTo(gw, baseline));
afterAll(async () => {
  await stopAll();
  rmSync(heldDir, { recursive: true, force: true });
});

describe('circuit breaker on real backends', () => {
  it('opens after failure_threshold failures, fails fast without reaching the backend, lets exactly one probe through, and closes', async () => {
    for (let i = 0; i < 3; i += 1) expect((await call('breaker', 'fail')).body.code).toBe('BACKEND_ERROR');
    expect((await row('breaker')).circuit).toBe('open');

    // While open: CIRCUIT_OPEN at once, with Retry-After, and the backend sees nothing.
    for (let i = 0; i < 5; i += 1) {
      const refused = await call('breaker', 'ok');
      expect(refused.status).toBe(503);
      expect(refused.body.code).toBe('CIRCUIT_OPEN');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }

    // Half-open after reset_timeout: of five calls at once, one is the probe. It is held at the
    // backend until the other four were answered, so none of them can arrive after it ended.
    await eventually(async () => (await row('breaker')).circuit === 'half_open');
    const calls = Array.from({ length: 5 }, () => held('breaker'));
    let answered = 0;
    for (const c of calls) c.answer.then(() => (answered += 1)).catch(() => undefined);
    // Four answers come without the probe's; if they do not (two probes), the codes below say so.
    await eventually(() => answered >= 4).catch(() => undefined);
    for (const c of calls) c.release();
    const burst = await Promise.all(calls.map((c) => c.answer));
    const codes = burst.map((r) => (r.status === 200 ? 'ok' : String(r.body.code))).sort();
    expect(codes).toEqual(['CIRCUIT_OPEN', 'CIRCUIT_OPEN', 'CIRCUIT_OPEN', 'CIRCUIT_OPEN', 'ok']);
    expect((await row('breaker')).circuit).toBe('closed');

    // 3 failures + 1 probe reached the process; the 9 refused calls did not.
    // (count is the second success: success_threshold 2 is met.)
    expect(await served('breaker')).toBe(4);
    // Fully trusted again: one failure no longer reopens it.
    expect((await call('breaker', 'fail')).body.code).toBe('BACKEND_ERROR');
    expect((await row('breaker')).circuit).toBe('closed');
    expect((await call('breaker', 'ok')).status).toBe(200);
  });

  it('never opens on isError results or on pool exhaustion', async () => {
    for (let i = 0; i < 4; i += 1) {
      const { status, body } = await call('innocent', 'tool_error');
      expect(status).toBe(200);
      expect(body.result).toMatchObject({ isError: true });
    }
    expect((await row('innocent')).circuit).toBe('closed');

    // The one slot is held until the four refusals are in (a timed call could end first on a slow machine).
    const busy = held('innocent');
    await eventually(
      async () =>
        ((await gw.request('GET', '/server/list')).body.servers as { name: string; pool: { inflight: number } }[]).find((s) => s.name === 'innocent')?.pool
          .inflight === 1,
    );
    for (let i = 0; i < 4; i += 1) expect((await call('innocent', 'ok')).body.code).toBe('POOL_EXHAUSTED');
    expect((await row('innocent')).circuit).toBe('closed');
    busy.release();
    expect((await busy.answer).status).toBe(200);
    expect((await call('innocent', 'ok')).status).toBe(200);
  });

  it('stays closed for a backend that fails every third call: failures are never consecutive', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 9; i += 1) {
      const r = await call('every3', 'flaky');
      outcomes.push(r.status === 200 ? 'ok' : String(r.body.code));
    }
    expect(outcomes).toEqual(['ok', 'ok', 'BACKEND_ERROR', 'ok', 'ok', 'BACKEND_ERROR', 'ok', 'ok', 'BACKEND_ERROR']);
    expect((await row('every3')).circuit).toBe('closed');
  });

  it('opens on error_threshold_percentage once volume_threshold calls were made', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      const r = await call('rate', 'flaky');
      outcomes.push(r.status === 200 ? 'ok' : String(r.body.code));
    }
    // Calls 2, 4, 6 fail: 3 of 6 (50 % > 40 %) at the 6th call, the volume threshold.
    expect(outcomes).toEqual(['ok', 'BACKEND_ERROR', 'ok', 'BACKEND_ERROR', 'ok', 'BACKEND_ERROR', 'CIRCUIT_OPEN']);
    expect((await row('rate')).circuit).toBe('open');
  });
});

describe('per-call timeouts on real backends', () => {
  it('times out a hanging call at the configured time, cancels it on the backend, and leaves concurrent calls alone', async () => {
    const hanging = call('hang', 'hang');
    const others: Promise<number>[] = [];
    for (let i = 0; i < 8; i += 1) {
      others.push(call('hang', 'ok').then((r) => r.status));
      await new Promise((resolve) => setTimeout(resolve, 75));
    }
    const timedOut = await hanging;
    expect(timedOut.status).toBe(504);
    expect(timedOut.body.code).toBe('TIMEOUT');
    expect(timedOut.body.error).toMatch(/within 400 ms/);
    // Never early, by the gateway's own clock (how late is load-dependent): its
    // call log records the hang as a timeout that ran its 400 ms.
    const logged = ((await gw.request('GET', '/log?server=hang')).body.calls as { tool: string; status: string; duration_ms: number }[]).find(
      (c) => c.tool === 'hang',
    );
    expect(logged?.status).toBe('timeout');
    expect(logged?.duration_ms).toBeGreaterThanOrEqual(390);
    console.log(`[resilience] hang call answered TIMEOUT after ${logged?.duration_ms} ms (timeout 400 ms)`);
    await gw.waitForLog((l) => l.backend === 'hang' && l.msg === 'hang: cancelled');
    expect(await Promise.all(others)).toEqual(Array.from({ length: 8 }, () => 200));
    // Two hangs at once time out independently; neither affects an ok in between.
    const pair = [call('hang', 'hang'), call('hang', 'hang')];
    expect((await call('hang', 'ok')).status).toBe(200);
    expect((await Promise.all(pair)).map((r) => r.body.code)).toEqual(['TIMEOUT', 'TIMEOUT']);
    // Two timeouts in a row (failure_threshold 2) opened the circuit: timeouts count.
    expect((await row('hang')).circuit).toBe('open');
  });
});
