import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #30, memory: under sustained load the gateway's RSS grew from ~130 MB
// to 200–225 MB and stayed, with a flat live heap: V8's default sizing let
// each call's short-lived objects pile up as old-space garbage. `serve`
// bounds that growth by default ([server] heap = "balanced"; bench `rss`
// shows its curve); "compact" also shrinks the young generation and code,
// "fast" keeps V8's defaults. The same load on compact and fast: the compact
// gateway's RSS is the lower one, by far more than run-to-run noise (~25 MB
// at idle alone).
//
// The two loads run at the same time, each with its own CLIENTS clients (so
// each gateway has as many calls in flight as the other throughout), not one
// after the other: on a shared machine the load of the test's own client and
// of other processes changes from one phase to the next, and a gateway that
// got fewer calls in flight holds less garbage.

const CALLS = 2_000;
const CLIENTS = 16;

function rssMb(gw: RunningGateway): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.proc.pid}/status`, 'latin1'))?.[1]) / 1024;
}

/** CALLS calls on CLIENTS keep-alive clients; the gateway's RSS as the last one is answered. */
async function load(gw: RunningGateway): Promise<number> {
  let issued = 0;
  const body = JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'heap' } });
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
  return rssMb(gw);
}

let compact: RunningGateway;
let fast: RunningGateway;

beforeAll(async () => {
  compact = await startGateway(`[server]\nheap = "compact"\n${demoBackend()}`);
  fast = await startGateway(`[server]\nheap = "fast"\n${demoBackend()}`);
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
    expect(small, `compact ${small.toFixed(1)} MB, fast ${large.toFixed(1)} MB (${idle})`).toBeLessThan(large - 10);
  }, 120_000);
});
