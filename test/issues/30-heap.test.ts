import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #30, memory: under sustained load the gateway's RSS grew from ~130 MB
// to 200–225 MB and stayed, with a flat live heap: V8's default sizing let
// each call's short-lived objects pile up as old-space garbage. `serve`
// bounds that growth by default ([server] heap = "balanced"; bench `rss`
// shows its curve); "compact" also shrinks the young generation and code,
// "fast" keeps V8's defaults. The same load on compact and fast: the compact
// gateway's RSS is the lower one, by far more than run-to-run noise. Both
// start with the same start-up sizing (bin/stonegate.js) and idle alike, so
// the load must be long enough for fast's young generation to grow.
//
// The two loads run at the same time, each with its own CLIENTS clients (so
// each gateway has as many calls in flight as the other throughout), not one
// after the other: on a shared machine the load of the test's own client and
// of other processes changes from one phase to the next, and a gateway that
// got fewer calls in flight holds less garbage. What a gateway holds is the
// mean of its RSS sampled through the second half of its load, not one
// reading at the end, which lands anywhere on the collector's sawtooth (at
// load 17-23 one such reading of fast fell below its idle RSS).

const CALLS = 8_000;
const CLIENTS = 16;

function rssMb(gw: RunningGateway): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.proc.pid}/status`, 'latin1'))?.[1]) / 1024;
}

/** CALLS calls on CLIENTS keep-alive clients; the mean RSS of the gateway through the second half of them. */
async function load(gw: RunningGateway): Promise<number> {
  let issued = 0;
  const samples: number[] = [];
  const sampler = setInterval(() => {
    if (issued > CALLS / 2) samples.push(rssMb(gw));
  }, 100);
  const body = JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'heap' } });
  try {
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (issued < CALLS) {
          issued += 1;
          const response = await fetch(`${gw.url}/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          expect(response.status).toBe(200);
          await response.arrayBuffer();
        }
      }),
    );
  } finally {
    clearInterval(sampler);
  }
  samples.push(rssMb(gw));
  return samples.reduce((sum, mb) => sum + mb, 0) / samples.length;
}

// The server's idle keep-alive close (5 s by default) can meet a starved client reusing that connection
// ("other side closed" at load 17): keep-alive is not what this test is about, so it is 60 s here.
const SERVER = '[server]\nkeep_alive_timeout = 60000\n';

let compact: RunningGateway;
let fast: RunningGateway;

beforeAll(async () => {
  compact = await startGateway(`${SERVER}heap = "compact"\n${demoBackend()}`);
  fast = await startGateway(`${SERVER}heap = "fast"\n${demoBackend()}`);
  await compact.waitForLog((l) => l.msg === 'backend ready');
  await fast.waitForLog((l) => l.msg === 'backend ready');
}, 60_000);

afterAll(stopAll);

describe('#30 heap sizing of serve', () => {
  it('says which sizing it runs with', async () => {
    expect((await compact.waitForLog((l) => l.msg === 'heap sizing')).heap).toBe('compact');
    expect((await fast.waitForLog((l) => l.msg === 'heap sizing')).heap).toBe('fast');
  });

  it('compact sizing holds less RSS than V8 defaults under the same load', async () => {
    const idle = `idle: compact ${rssMb(compact).toFixed(1)} MB, fast ${rssMb(fast).toFixed(1)} MB`;
    const [small, large] = await Promise.all([load(compact), load(fast)]);
    expect(small, `under load (mean): compact ${small.toFixed(1)} MB, fast ${large.toFixed(1)} MB (${idle})`).toBeLessThan(large - 10);
  }, 120_000);
});
