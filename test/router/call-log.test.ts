import { describe, expect, it } from 'vitest';
import { CallLog, type CallRecord, Histogram } from '../../src/router/call-log.js';

function record(overrides: Partial<CallRecord> = {}): CallRecord {
  return { time: new Date(0).toISOString(), agent: null, server: 'demo', tool: 'echo', status: 'success', code: null, duration_ms: 1, ...overrides };
}

/** Within one bucket: the reported value is the bucket's upper bound, at most 25 % above the truth. */
function expectWithinOneBucket(reported: number, truth: number): void {
  expect(reported).toBeGreaterThanOrEqual(truth * 0.999);
  expect(reported).toBeLessThanOrEqual(truth * 1.25 + 0.01);
}

describe('Histogram', () => {
  it('reports 0 for every quantile and the mean when empty', () => {
    const h = new Histogram();
    expect(h.quantile(0.5)).toBe(0);
    expect(h.mean).toBe(0);
  });

  it('gives quantiles within one 25 % bucket of the truth for 1..1000 ms', () => {
    const h = new Histogram();
    // A shuffled order must not matter.
    const values = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) + 1);
    for (const v of values) h.record(v);
    expect(h.count).toBe(1000);
    expect(h.mean).toBe(500.5);
    expectWithinOneBucket(h.quantile(0.5), 500);
    expectWithinOneBucket(h.quantile(0.95), 950);
    expectWithinOneBucket(h.quantile(0.99), 990);
    expectWithinOneBucket(h.quantile(1), 1000);
    expectWithinOneBucket(h.quantile(0.01), 10);
  });

  it('keeps quantiles apart for a bimodal distribution', () => {
    const h = new Histogram();
    for (let i = 0; i < 90; i += 1) h.record(2);
    for (let i = 0; i < 10; i += 1) h.record(4000);
    expectWithinOneBucket(h.quantile(0.5), 2);
    expectWithinOneBucket(h.quantile(0.9), 2);
    expectWithinOneBucket(h.quantile(0.95), 4000);
  });

  it('handles values below the first and above the last bucket', () => {
    const h = new Histogram();
    h.record(0);
    expect(h.quantile(1)).toBeLessThanOrEqual(0.05);
    h.record(10_000_000);
    expect(h.quantile(1)).toBeGreaterThan(500_000);
  });
});

describe('CallLog.recent', () => {
  it('keeps the newest N records, newest first', () => {
    const log = new CallLog(3);
    for (let i = 1; i <= 5; i += 1) log.add(record({ tool: `t${i}` }));
    expect(log.recent().map((r) => r.tool)).toEqual(['t5', 't4', 't3']);
  });

  it('returns only what was added when the ring is not full, and honours limit', () => {
    const log = new CallLog(10);
    log.add(record({ tool: 'a' }));
    log.add(record({ tool: 'b' }));
    expect(log.recent().map((r) => r.tool)).toEqual(['b', 'a']);
    expect(log.recent({ limit: 1 }).map((r) => r.tool)).toEqual(['b']);
    expect(new CallLog(4).recent()).toEqual([]);
  });

  it('defaults to 50 records', () => {
    const log = new CallLog(100);
    for (let i = 0; i < 80; i += 1) log.add(record());
    expect(log.recent()).toHaveLength(50);
  });

  it('filters by server, status and agent, and applies the limit after filtering', () => {
    const log = new CallLog(100);
    log.add(record({ server: 'a', agent: 'ada', status: 'success', tool: '1' }));
    log.add(record({ server: 'b', agent: 'bob', status: 'error', code: 'BACKEND_ERROR', tool: '2' }));
    log.add(record({ server: 'a', agent: 'bob', status: 'timeout', code: 'TIMEOUT', tool: '3' }));
    log.add(record({ server: 'a', agent: 'ada', status: 'error', code: 'INVALID_ARGUMENTS', tool: '4' }));
    for (let i = 0; i < 10; i += 1) log.add(record({ server: 'c' }));
    expect(log.recent({ server: 'a' }).map((r) => r.tool)).toEqual(['4', '3', '1']);
    expect(log.recent({ status: 'error' }).map((r) => r.tool)).toEqual(['4', '2']);
    expect(log.recent({ agent: 'bob' }).map((r) => r.tool)).toEqual(['3', '2']);
    expect(log.recent({ server: 'a', agent: 'ada', status: 'error' }).map((r) => r.tool)).toEqual(['4']);
    expect(log.recent({ server: 'a', limit: 2 }).map((r) => r.tool)).toEqual(['4', '3']);
  });
});

describe('CallLog stats', () => {
  it('counts totals, errors and per-backend error rates', () => {
    const log = new CallLog(2); // totals outlive the ring
    log.add(record({ server: 'a', duration_ms: 10 }));
    log.add(record({ server: 'a', duration_ms: 30, status: 'error', code: 'BACKEND_ERROR' }));
    log.add(record({ server: 'a', duration_ms: 20, status: 'timeout', code: 'TIMEOUT' }));
    log.add(record({ server: 'b', duration_ms: 40 }));
    const stats = log.stats();
    expect(stats).toMatchObject({ total_calls: 4, total_errors: 2, error_rate: 0.5, avg_latency_ms: 25 });
    expect(stats.backends).toEqual({
      a: { calls: 3, errors: 2, caller_errors: 0, tool_errors: 0, stopped_calls: 0, error_rate: 0.6667, avg_ms: 20, p95_ms: expect.any(Number) },
      b: { calls: 1, errors: 0, caller_errors: 0, tool_errors: 0, stopped_calls: 0, error_rate: 0, avg_ms: 40, p95_ms: expect.any(Number) },
    });
    expectWithinOneBucket(log.backend('a').p95_ms, 30);
    expectWithinOneBucket(stats.p99_latency_ms as number, 40);
  });

  it('keeps backend errors, caller errors, tool errors and calls cut by an operator apart; only the first make error_rate', () => {
    const log = new CallLog(10);
    log.add(record({ server: 'a' }));
    log.add(record({ server: 'a', status: 'error', code: 'BACKEND_ERROR', fault: 'backend' }));
    log.add(record({ server: 'a', status: 'error', code: 'INVALID_ARGUMENTS', fault: 'caller' }));
    log.add(record({ server: 'a', status: 'error', code: null, fault: 'tool' }));
    log.add(record({ server: 'a', status: 'error', code: 'BACKEND_UNAVAILABLE', fault: 'stopped' }));
    expect(log.backend('a')).toMatchObject({ calls: 5, errors: 1, caller_errors: 1, tool_errors: 1, stopped_calls: 1, error_rate: 0.2 });
    expect(log.stats()).toMatchObject({
      total_calls: 5,
      total_errors: 1,
      total_caller_errors: 1,
      total_tool_errors: 1,
      total_stopped_calls: 1,
      error_rate: 0.2,
    });
  });

  it('limits the per-backend breakdown to the allowed backends', () => {
    const log = new CallLog(10);
    log.add(record({ server: 'a' }));
    log.add(record({ server: 'b' }));
    expect(Object.keys(log.stats(new Set(['b'])).backends as object)).toEqual(['b']);
  });

  it('reports zeros for an unknown backend and an empty log', () => {
    const log = new CallLog(10);
    expect(log.backend('x')).toEqual({ calls: 0, errors: 0, caller_errors: 0, tool_errors: 0, stopped_calls: 0, error_rate: 0, avg_ms: 0, p95_ms: 0 });
    expect(log.stats()).toMatchObject({ total_calls: 0, error_rate: 0, p50_latency_ms: 0 });
  });
});
