import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #30, memory: under sustained load the gateway's RSS grew from ~130 MB
// to 200–225 MB and stayed, with a flat live heap: V8's default sizing let
// each call's short-lived objects pile up as old-space garbage. `serve`
// bounds that growth by default ([server] heap = "balanced"; bench `rss`
// shows its curve); "compact" also shrinks the young generation and code,
// "fast" keeps V8's defaults. The same load on compact and fast: the compact
// gateway's young generation is the smaller one (V8's own gauge) and its RSS the lower one. Both
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

/** V8's young generation (both semi-spaces) in MB, from the gateway's own GET /metrics. */
async function youngMb(gw: RunningGateway): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  return Number(/nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/.exec(text)?.[1]) / 2 ** 20;
}

/** What a load left: the mean RSS through its second half, and the largest young generation seen (MB). */
interface Held {
  rss: number;
  young: number;
}

/**
 * One POST on the agent's keep-alive connections; resolves with the status once the answer is read.
 * [speed] node:http, not fetch: the gateway gets the same requests on the same 16 connections, and the test's
 * own process spends a fraction of the CPU (undici's fetch cost the test process about as much CPU as both gateways).
 */
function post(agent: Agent, url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/** CALLS calls on CLIENTS keep-alive clients; the gateway's RSS and young generation through the second half of them. */
async function load(gw: RunningGateway): Promise<Held> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  let issued = 0;
  const samples: number[] = [];
  const young: Promise<number>[] = [];
  const sampler = setInterval(() => {
    if (issued <= CALLS / 2) return;
    samples.push(rssMb(gw));
    young.push(youngMb(gw));
  }, 100);
  const body = JSON.stringify({ server: 'demo', tool: 'echo', arguments: { text: 'heap' } });
  try {
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (issued < CALLS) {
          issued += 1;
          expect(await post(agent, `${gw.url}/call`, body)).toBe(200);
        }
      }),
    );
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }
  samples.push(rssMb(gw));
  young.push(youngMb(gw));
  return { rss: samples.reduce((sum, mb) => sum + mb, 0) / samples.length, young: Math.max(...(await Promise.all(young))) };
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
    const seen = `under load: RSS (mean) compact ${small.rss.toFixed(1)} MB, fast ${large.rss.toFixed(1)} MB; young generation (largest) compact ${small.young.toFixed(1)} MB, fast ${large.young.toFixed(1)} MB (${idle})`;
    // The cause, read from V8 itself: compact's young generation stops at two 8 MB semi-spaces, fast's grows to two 16 MB
    // (sized by what is allocated, not by time, so a starved machine does not blur it).
    expect(small.young, seen).toBeLessThan(large.young);
    // The effect an operator sees. With both starting from the same start-up sizing the gap is 25–30 MB on a
    // quiet machine but was 7 MB once in CI under load, so only its direction is asserted.
    expect(small.rss, seen).toBeLessThan(large.rss);
  }, 120_000);
});
