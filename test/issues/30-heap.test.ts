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

const CALLS = 8_000;
const CLIENTS = 16;

function rssMb(gw: RunningGateway): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.proc.pid}/status`, 'latin1'))?.[1]) / 1024;
}

async function load(gw: RunningGateway): Promise<void> {
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
    await load(compact);
    await load(fast);
    const [small, large] = [rssMb(compact), rssMb(fast)];
    expect(small, `compact ${small.toFixed(1)} MB, fast ${large.toFixed(1)} MB`).toBeLessThan(large - 10);
  }, 120_000);
});
