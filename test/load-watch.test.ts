import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LONG_WINDOW_MS, LoadWatch, SHORT_WINDOW_MS } from '../src/load-watch.js';
import { DelaySampling } from '../src/views/loop-delay.js';

/*
 * [speed] #30: the process's one load watch reads its CPU once a second
 * while every listener is idle, every quarter second while one asks for it
 * (the heap watch under load), and not at all without listeners. And the
 * event loop's delay is sampled during work and 10 s after, else one second
 * in ten: prom-client sampled it every 10 ms for ever.
 */
describe('LoadWatch', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads long windows while no listener asks for short ones, and stops without listeners', () => {
    const watch = new LoadWatch();
    expect(watch.armed).toBe(false);
    let short = false;
    const seen: number[] = [];
    const stop = watch.listen((_cpu, windowMs) => {
      seen.push(windowMs);
      return short;
    });
    expect(watch.armed).toBe(true);
    expect(watch.windowMs).toBe(LONG_WINDOW_MS);
    vi.advanceTimersByTime(LONG_WINDOW_MS);
    expect(seen).toHaveLength(1);
    short = true;
    vi.advanceTimersByTime(LONG_WINDOW_MS);
    expect(watch.windowMs).toBe(SHORT_WINDOW_MS);
    vi.advanceTimersByTime(SHORT_WINDOW_MS * 4);
    expect(seen).toHaveLength(6);
    stop();
    expect(watch.armed).toBe(false);
    vi.advanceTimersByTime(LONG_WINDOW_MS * 5);
    expect(seen).toHaveLength(6);
  });
});

describe('DelaySampling', () => {
  it('samples one second in ten while idle', () => {
    const when = new DelaySampling();
    const answers = Array.from({ length: 40 }, () => when.push(2, 1_000));
    // The first 10 s after the start (which is work) stay sampled; then one window in ten.
    expect(answers.slice(20).filter(Boolean)).toHaveLength(2);
    expect(answers.slice(0, 9).every(Boolean)).toBe(true);
  });

  it('samples during work (over 5 % of a core) and for 10 s after, not for a short burst of a slow machine’s health checks', () => {
    const when = new DelaySampling();
    for (let i = 0; i < 25; i += 1) when.push(2, 1_000);
    const burst = [30, 2, 2].map((ms) => when.push(ms, 1_000));
    expect(burst.filter(Boolean).length).toBeLessThanOrEqual(1);
    const work = Array.from({ length: 8 }, () => when.push(80, 250));
    expect(work.every(Boolean)).toBe(true);
    const after = Array.from({ length: 12 }, () => when.push(2, 1_000));
    expect(after.slice(0, 9).every(Boolean)).toBe(true);
    expect(after.slice(10).some(Boolean)).toBe(false);
  });
});
