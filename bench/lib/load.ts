import { quantile } from './stats.js';
import type { Caller } from './targets.js';

/** What one timed run measured. Latencies are in ms. */
export interface LoadResult {
  calls: number;
  seconds: number;
  callsPerSec: number;
  p50: number;
  p99: number;
}

function summarize(latencies: Float64Array, seconds: number): LoadResult {
  return { calls: latencies.length, seconds, callsPerSec: latencies.length / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new Error('bench time bound reached');
}

/** `calls` calls one after the other on one caller. */
export async function sequential(caller: Caller, calls: number, signal?: AbortSignal): Promise<LoadResult> {
  const latencies = new Float64Array(calls);
  const started = performance.now();
  for (let i = 0; i < calls; i += 1) {
    if ((i & 63) === 0) checkAborted(signal);
    const t0 = performance.now();
    await caller.call();
    latencies[i] = performance.now() - t0;
  }
  return summarize(latencies, (performance.now() - started) / 1000);
}

/** `total` calls spread over the callers, each caller keeping exactly one call in flight until the total is reached. */
export async function concurrent(callers: readonly Caller[], total: number, signal?: AbortSignal): Promise<LoadResult> {
  const latencies = new Float64Array(total);
  let next = 0;
  const worker = async (caller: Caller): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      if ((i & 63) === 0) checkAborted(signal);
      const t0 = performance.now();
      await caller.call();
      latencies[i] = performance.now() - t0;
    }
  };
  const started = performance.now();
  await Promise.all(callers.map(worker));
  return summarize(latencies, (performance.now() - started) / 1000);
}
