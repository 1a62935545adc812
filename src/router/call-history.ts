import { type CallRecord, Histogram } from './call-log.js';

/** Seconds per point of GET /stats/history. */
export const STEP_SECONDS = 10;
/** Points kept per backend: an hour. */
export const HISTORY_POINTS = 360;

/**
 * One backend's ring, column by column (typed arrays: ~28 bytes a step,
 * 10 kB a backend), indexed by step % HISTORY_POINTS. A slot whose `step`
 * is not the one asked for is empty (that step has rolled out, or had no
 * call). Only the newest step keeps a latency histogram while it fills;
 * once a later step opens, its p50 and p95 are kept and the histogram goes.
 */
interface Ring {
  step: Float64Array;
  calls: Uint32Array;
  /** The backend's own failures (as error_rate counts them). */
  errors: Uint32Array;
  /** Every call that did not succeed: the backend's failures, a caller's, a tool's isError, a stop. */
  failed: Uint32Array;
  p50: Float32Array;
  p95: Float32Array;
  open: { index: number; latency: Histogram } | undefined;
}

function newRing(): Ring {
  const n = HISTORY_POINTS;
  return {
    step: new Float64Array(n).fill(-1),
    calls: new Uint32Array(n),
    errors: new Uint32Array(n),
    failed: new Uint32Array(n),
    p50: new Float32Array(n),
    p95: new Float32Array(n),
    open: undefined,
  };
}

/** Keeps the open step's percentiles and drops its histogram. */
function settle(ring: Ring): void {
  if (ring.open === undefined) return;
  ring.p50[ring.open.index] = ring.open.latency.quantile(0.5);
  ring.p95[ring.open.index] = ring.open.latency.quantile(0.95);
  ring.open = undefined;
}

/** Per-backend series over a window, one value per step (oldest first); a latency with no call in its step is null. */
export interface CallSeries {
  calls: number[];
  errors: number[];
  failed: number[];
  p50_ms: (number | null)[];
  p95_ms: (number | null)[];
}

/** The body of GET /stats/history. */
export interface CallHistoryView {
  /** ISO time of the first step's start. */
  start: string;
  step_seconds: number;
  points: number;
  backends: Record<string, CallSeries>;
}

/**
 * Calls per backend over the last hour, in steps of STEP_SECONDS: a fixed
 * ring of HISTORY_POINTS steps per backend (Ring), each with its counts and
 * its p50/p95 latency — from a histogram (the call log's, 25 % buckets)
 * while the step fills — so memory stays bounded (about 10 kB a backend)
 * whatever the traffic; nothing leaves the process. The dashboard's
 * charts read it (GET /stats/history).
 */
export class CallHistory {
  readonly #rings = new Map<string, Ring>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Counts a finished call in its backend's current step. */
  record(record: Pick<CallRecord, 'server' | 'status' | 'fault' | 'duration_ms'>): void {
    let ring = this.#rings.get(record.server);
    if (ring === undefined) {
      ring = newRing();
      this.#rings.set(record.server, ring);
    }
    const step = Math.floor(this.#now() / (STEP_SECONDS * 1000));
    const index = step % HISTORY_POINTS;
    if (ring.step[index] !== step) {
      settle(ring);
      ring.step[index] = step;
      ring.calls[index] = 0;
      ring.errors[index] = 0;
      ring.failed[index] = 0;
      ring.open = { index, latency: new Histogram() };
    }
    ring.calls[index] = (ring.calls[index] ?? 0) + 1;
    if (ring.open?.index === index) ring.open.latency.record(record.duration_ms);
    if (record.status !== 'success') {
      ring.failed[index] = (ring.failed[index] ?? 0) + 1;
      if ((record.fault ?? 'backend') === 'backend') ring.errors[index] = (ring.errors[index] ?? 0) + 1;
    }
  }

  /** A removed backend's series go with it. */
  drop(server: string): void {
    this.#rings.delete(server);
  }

  /** The last `minutes` (1 to 60) of the backends in `servers` (all when undefined), the current, partial step last. */
  view(minutes: number, servers?: ReadonlySet<string>): CallHistoryView {
    const points = Math.min(HISTORY_POINTS, Math.max(1, Math.ceil((minutes * 60) / STEP_SECONDS)));
    const last = Math.floor(this.#now() / (STEP_SECONDS * 1000));
    const first = last - points + 1;
    const backends: Record<string, CallSeries> = {};
    const round = (ms: number): number => Math.round(ms * 100) / 100;
    for (const [name, ring] of this.#rings) {
      if (servers !== undefined && !servers.has(name)) continue;
      const series: CallSeries = { calls: [], errors: [], failed: [], p50_ms: [], p95_ms: [] };
      for (let step = first; step <= last; step += 1) {
        const i = step % HISTORY_POINTS;
        const live = ring.step[i] === step;
        const open = live && ring.open?.index === i ? ring.open.latency : undefined;
        series.calls.push(live ? (ring.calls[i] ?? 0) : 0);
        series.errors.push(live ? (ring.errors[i] ?? 0) : 0);
        series.failed.push(live ? (ring.failed[i] ?? 0) : 0);
        series.p50_ms.push(live ? (open?.quantile(0.5) ?? round(ring.p50[i] ?? 0)) : null);
        series.p95_ms.push(live ? (open?.quantile(0.95) ?? round(ring.p95[i] ?? 0)) : null);
      }
      backends[name] = series;
    }
    return { start: new Date(first * STEP_SECONDS * 1000).toISOString(), step_seconds: STEP_SECONDS, points, backends };
  }
}
