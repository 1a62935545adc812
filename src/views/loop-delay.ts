import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';
import { loadWatch } from '../load-watch.js';

/*
 * [speed] #30: the event loop's delay for GET /metrics, sampled in full
 * only while the process works. prom-client's default metrics sample it
 * with a timer every 10 ms, always: 100 wake-ups a second, about 5 ms of
 * CPU a second of an idle gateway on a slow machine, most of what it used.
 * The same gauges (names, help, values of a 10 ms timer) come from one
 * histogram of the process here: enabled while the load watch sees the
 * process use more than 5 % of a core and for 10 s after, and otherwise for
 * one second in ten, so that the figures stay fresh and a stall of an idle
 * gateway is still seen one time in ten. (1 % was tried: the health checks
 * of 10 backends, 20-30 ms in one second every 30 s on a slow machine, kept
 * it on a third of the time.) A scrape that finds no new sample shows the
 * last figures.
 */

/** prom-client's resolution: the gauges keep its meaning (a 10 ms timer's delays, the 10 ms included). */
const RESOLUTION_MS = 10;
/** A window over this share of a core is work: sampled, and for QUIET_MS after. */
const ACTIVE_SHARE = 0.05;
const QUIET_MS = 10_000;
/** Without work, one (long) window in SPOT_EVERY_MS is sampled. */
const SPOT_EVERY_MS = 10_000;

/** When the delay is sampled, from the load watch's windows: during and 10 s after work, else one window in 10 s. */
export class DelaySampling {
  #quietMs = 0; // the start is work
  #sinceSpotMs = 0;

  /** Adds one window (its CPU and length, ms); true when the next one is to be sampled. */
  push(cpuMs: number, windowMs: number): boolean {
    this.#quietMs = cpuMs > windowMs * ACTIVE_SHARE ? 0 : this.#quietMs + windowMs;
    this.#sinceSpotMs += windowMs;
    if (this.#quietMs < QUIET_MS) return true;
    if (this.#sinceSpotMs < SPOT_EVERY_MS) return false;
    this.#sinceSpotMs = 0;
    return true;
  }
}

/** prom-client's gauges, replaced by these (with the registry's prefix), and their aggregators. */
const GAUGES = [
  ['nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', 'min'],
  ['nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', 'max'],
  ['nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', 'average'],
  ['nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.', 'average'],
  ['nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', 'average'],
  ['nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.', 'average'],
  ['nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', 'average'],
] as const;
/** What prom-client's default metrics need to leave the delay to this file: a timer that never fires (2^31 - 1 ms). */
export const DEFAULT_METRICS_LOOP_PRECISION = 2 ** 31 - 1;

let shared: IntervalHistogram | undefined;

/** The process's one histogram (several gateways in one process, as in tests, share it), sampled by DelaySampling. */
function sampler(): IntervalHistogram {
  if (shared !== undefined) return shared;
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const when = new DelaySampling();
  let on = true;
  histogram.enable(); // the start is work
  loadWatch.listen((cpuMs, windowMs) => {
    const next = when.push(cpuMs, windowMs);
    if (next && !on) histogram.enable();
    if (!next && on) histogram.disable();
    on = next;
    return false;
  });
  shared = histogram;
  return histogram;
}

/**
 * Replaces prom-client's event-loop delay gauges in `registry` (after its
 * default metrics, which were given DEFAULT_METRICS_LOOP_PRECISION) by the
 * same gauges over the shared histogram.
 */
export function registerLoopDelay(registry: Registry, prefix: string): void {
  const histogram = sampler();
  const gauges: Gauge[] = [];
  // The first gauge's collect sets them all (as prom-client's does): one read and one reset of the histogram per scrape.
  const collect = (): void => {
    if (histogram.count === 0) return;
    const [min, max, mean, stddev, p50, p90, p99] = gauges as [Gauge, Gauge, Gauge, Gauge, Gauge, Gauge, Gauge];
    min.set(histogram.min / 1e9);
    max.set(histogram.max / 1e9);
    mean.set(histogram.mean / 1e9);
    stddev.set(histogram.stddev / 1e9);
    p50.set(histogram.percentile(50) / 1e9);
    p90.set(histogram.percentile(90) / 1e9);
    p99.set(histogram.percentile(99) / 1e9);
    histogram.reset();
  };
  for (const [i, [name, help, aggregator]] of GAUGES.entries()) {
    registry.removeSingleMetric(prefix + name);
    gauges.push(new Gauge({ name: prefix + name, help, aggregator, registers: [registry], ...(i === 0 ? { collect } : {}) }));
  }
}
