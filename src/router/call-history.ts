import { type CallRecord, Histogram } from './call-log.js';

/** Seconds per point of GET /stats/history. */
export const STEP_SECONDS = 10;
/** Points kept per backend: an hour. */
export const HISTORY_POINTS = 360;

/** One step of one backend's calls. */
interface Slot {
  /** Which step this slot holds (ms since the epoch / step); a slot of an older step is empty. */
  step: number;
  calls: number;
  /** The backend's own failures (as error_rate counts them). */
  errors: number;
  /** Every call that did not succeed: the backend's failures, a caller's, a tool's isError, a stop. */
  failed: number;
  /** The step's latencies while it fills; once it is over only its p50 and p95 are kept (a few bytes, not a histogram). */
  latency: Histogram | undefined;
  p50: number;
  p95: number;
}

/** Drops a finished step's histogram, keeping its percentiles. */
function settle(slot: Slot): void {
  if (slot.latency === undefined) return;
  slot.p50 = slot.latency.quantile(0.5);
  slot.p95 = slot.latency.quantile(0.95);
  slot.latency = undefined;
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
 * ring of HISTORY_POINTS slots per backend, each with its counts and its
 * p50/p95 latency — from a histogram (the call log's, 25 % buckets) while
 * the step fills, dropped once it is over — so memory stays bounded (tens
 * of kB per backend) whatever the traffic; nothing leaves the process. The dashboard's
 * charts read it (GET /stats/history).
 */
export class CallHistory {
  readonly #rings = new Map<string, (Slot | undefined)[]>();
  readonly #open = new Map<string, Slot>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Counts a finished call in its backend's current step. */
  record(record: Pick<CallRecord, 'server' | 'status' | 'fault' | 'duration_ms'>): void {
    let ring = this.#rings.get(record.server);
    if (ring === undefined) {
      ring = new Array<Slot | undefined>(HISTORY_POINTS);
      this.#rings.set(record.server, ring);
    }
    const step = Math.floor(this.#now() / (STEP_SECONDS * 1000));
    const index = step % HISTORY_POINTS;
    let slot = ring[index];
    if (slot === undefined || slot.step !== step) {
      // Only the backend's newest step keeps a histogram.
      const open = this.#open.get(record.server);
      if (open !== undefined) settle(open);
      slot = { step, calls: 0, errors: 0, failed: 0, latency: new Histogram(), p50: 0, p95: 0 };
      ring[index] = slot;
      this.#open.set(record.server, slot);
    }
    slot.calls += 1;
    slot.latency?.record(record.duration_ms);
    if (record.status !== 'success') {
      slot.failed += 1;
      if ((record.fault ?? 'backend') === 'backend') slot.errors += 1;
    }
  }

  /** A removed backend's series go with it. */
  drop(server: string): void {
    this.#rings.delete(server);
    this.#open.delete(server);
  }

  /** The last `minutes` (1 to 60) of the backends in `servers` (all when undefined), the current, partial step last. */
  view(minutes: number, servers?: ReadonlySet<string>): CallHistoryView {
    const points = Math.min(HISTORY_POINTS, Math.max(1, Math.ceil((minutes * 60) / STEP_SECONDS)));
    const last = Math.floor(this.#now() / (STEP_SECONDS * 1000));
    const first = last - points + 1;
    const backends: Record<string, CallSeries> = {};
    for (const [name, ring] of this.#rings) {
      if (servers !== undefined && !servers.has(name)) continue;
      const series: CallSeries = { calls: [], errors: [], failed: [], p50_ms: [], p95_ms: [] };
      for (let step = first; step <= last; step += 1) {
        const slot = ring[step % HISTORY_POINTS];
        const live = slot !== undefined && slot.step === step ? slot : undefined;
        series.calls.push(live?.calls ?? 0);
        series.errors.push(live?.errors ?? 0);
        series.failed.push(live?.failed ?? 0);
        series.p50_ms.push(live === undefined ? null : (live.latency?.quantile(0.5) ?? live.p50));
        series.p95_ms.push(live === undefined ? null : (live.latency?.quantile(0.95) ?? live.p95));
      }
      backends[name] = series;
    }
    return { start: new Date(first * STEP_SECONDS * 1000).toISOString(), step_seconds: STEP_SECONDS, points, backends };
  }
}
