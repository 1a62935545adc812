import type { ErrorCode } from '../errors.js';
import type { Fault } from './fault.js';
import type { CallRequest } from './router.js';

/** One finished call, as /log shows it. */
export interface CallRecord {
  time: string;
  agent: string | null;
  server: string;
  tool: string;
  /** success, error (gateway or backend failure, or a tool result with isError), timeout. */
  status: 'success' | 'error' | 'timeout';
  code: ErrorCode | null;
  /** Whose failure it was, on a call that did not succeed (see fault.ts). */
  fault?: Fault;
  duration_ms: number;
  /** Set when the call was retried once after its backend crashed under it (a read-only or idempotent tool). */
  retried?: boolean;
  /** [otel] The call's trace id: its span's (tracing on), else its caller's trace context's; absent without either. */
  trace_id?: string;
}

/** Sees each record as it is added, with the request it came from when the router made it. */
export type CallListener = (record: CallRecord, request?: CallRequest) => void;

/** Latency histogram with buckets growing by 25 %, from 0.05 ms to ~10 min. */
export class Histogram {
  static readonly #BOUNDS: readonly number[] = (() => {
    const bounds: number[] = [];
    for (let b = 0.05; b < 700_000; b *= 1.25) bounds.push(b);
    return bounds;
  })();
  readonly #counts = new Array<number>(Histogram.#BOUNDS.length + 1).fill(0);
  count = 0;
  sum = 0;

  record(ms: number): void {
    const bounds = Histogram.#BOUNDS;
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((bounds[mid] as number) < ms) lo = mid + 1;
      else hi = mid;
    }
    this.#counts[lo] = (this.#counts[lo] ?? 0) + 1;
    this.count += 1;
    this.sum += ms;
  }

  /** The upper bound of the bucket holding the q-quantile (0 < q ≤ 1); 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i += 1) {
      seen += this.#counts[i] ?? 0;
      if (seen >= rank) return round(Histogram.#BOUNDS[i] ?? Histogram.#BOUNDS.at(-1) ?? 0);
    }
    return 0;
  }

  get mean(): number {
    return this.count === 0 ? 0 : round(this.sum / this.count);
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Failed calls by whose failure they were. */
interface Failures {
  /** The backend's own failures: the only ones in error_rate. */
  errors: number;
  caller_errors: number;
  tool_errors: number;
  stopped_calls: number;
}

interface BackendTotals extends Failures {
  calls: number;
  latency: Histogram;
}

const FIELD: Record<Fault, keyof Failures> = { backend: 'errors', caller: 'caller_errors', tool: 'tool_errors', stopped: 'stopped_calls' };

/** Per-backend call totals for /stats and /server/list. */
export interface BackendStats extends Failures {
  calls: number;
  /** errors / calls: the backend's own failures only. */
  error_rate: number;
  avg_ms: number;
  p95_ms: number;
}

/**
 * Every finished call: a bounded ring of recent records for /log, and
 * totals with latency histograms for /stats (no list of every sample).
 */
export class CallLog {
  readonly #ring: (CallRecord | undefined)[];
  #next = 0;
  readonly #all = new Histogram();
  readonly #backends = new Map<string, BackendTotals>();
  readonly #failures: Failures = { errors: 0, caller_errors: 0, tool_errors: 0, stopped_calls: 0 };
  readonly #listeners: CallListener[] = [];

  constructor(size: number) {
    this.#ring = new Array<CallRecord | undefined>(size);
  }

  /** Calls `listener` with every record added (metrics, audit, live call feeds). */
  onRecord(listener: CallListener): void {
    this.#listeners.push(listener);
  }

  /** Records a finished call; `request` is the router's request it came from, for listeners that annotated it. */
  add(record: CallRecord, request?: CallRequest): void {
    for (const listener of this.#listeners) listener(record, request);
    this.#ring[this.#next] = record;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#all.record(record.duration_ms);
    let totals = this.#backends.get(record.server);
    if (totals === undefined) {
      totals = { calls: 0, errors: 0, caller_errors: 0, tool_errors: 0, stopped_calls: 0, latency: new Histogram() };
      this.#backends.set(record.server, totals);
    }
    totals.calls += 1;
    totals.latency.record(record.duration_ms);
    if (record.status !== 'success') {
      // A record without a fault (from before faults were kept apart) is the backend's.
      const field = FIELD[record.fault ?? 'backend'];
      totals[field] += 1;
      this.#failures[field] += 1;
    }
  }

  /** Newest first, filtered. */
  recent(filter: { limit?: number; server?: string; status?: string; agent?: string } = {}): CallRecord[] {
    const out: CallRecord[] = [];
    const limit = filter.limit ?? 50;
    const size = this.#ring.length;
    for (let i = 1; i <= size && out.length < limit; i += 1) {
      const record = this.#ring[(this.#next - i + size) % size];
      if (record === undefined) break;
      if (filter.server !== undefined && record.server !== filter.server) continue;
      if (filter.status !== undefined && record.status !== filter.status) continue;
      if (filter.agent !== undefined && record.agent !== filter.agent) continue;
      out.push(record);
    }
    return out;
  }

  backend(server: string): BackendStats {
    const t = this.#backends.get(server);
    if (t === undefined) return { calls: 0, errors: 0, caller_errors: 0, tool_errors: 0, stopped_calls: 0, error_rate: 0, avg_ms: 0, p95_ms: 0 };
    const { calls, errors, caller_errors, tool_errors, stopped_calls } = t;
    return {
      calls,
      errors,
      caller_errors,
      tool_errors,
      stopped_calls,
      error_rate: rate(errors, calls),
      avg_ms: t.latency.mean,
      p95_ms: t.latency.quantile(0.95),
    };
  }

  stats(servers?: ReadonlySet<string>): Record<string, unknown> {
    const backends: Record<string, BackendStats> = {};
    for (const name of this.#backends.keys()) {
      if (servers === undefined || servers.has(name)) backends[name] = this.backend(name);
    }
    return {
      total_calls: this.#all.count,
      total_errors: this.#failures.errors,
      total_caller_errors: this.#failures.caller_errors,
      total_tool_errors: this.#failures.tool_errors,
      total_stopped_calls: this.#failures.stopped_calls,
      error_rate: rate(this.#failures.errors, this.#all.count),
      avg_latency_ms: this.#all.mean,
      p50_latency_ms: this.#all.quantile(0.5),
      p95_latency_ms: this.#all.quantile(0.95),
      p99_latency_ms: this.#all.quantile(0.99),
      backends,
    };
  }
}

function rate(errors: number, calls: number): number {
  return calls === 0 ? 0 : Math.round((errors / calls) * 10_000) / 10_000;
}
