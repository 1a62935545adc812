import { describe, expect, it } from 'vitest';
import { PooledIds } from '../../src/telemetry/ids.js';

describe('[otel] PooledIds', () => {
  it('gives W3C trace and span ids (lowercase hex, 32 and 16 digits), all different, across pool refills', () => {
    const ids = new PooledIds();
    const seen = new Set<string>();
    // 4 KiB a pool: 2,000 of each crosses several refills.
    for (let i = 0; i < 2000; i += 1) {
      const trace = ids.generateTraceId();
      const span = ids.generateSpanId();
      expect(trace).toMatch(/^[0-9a-f]{32}$/);
      expect(span).toMatch(/^[0-9a-f]{16}$/);
      expect(trace).not.toBe('0'.repeat(32));
      expect(span).not.toBe('0'.repeat(16));
      seen.add(trace).add(span);
    }
    expect(seen.size).toBe(4000);
  });
});
