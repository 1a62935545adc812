import { describe, expect, it } from 'vitest';
import { CallHistory, HISTORY_POINTS, STEP_SECONDS } from '../../src/router/call-history.js';

// [dashboard] #33: the calls-over-time ring is bounded (an hour of 10 s steps per backend) and forgets what rolled out.

const STEP = STEP_SECONDS * 1000;

describe('CallHistory', () => {
  it('counts calls, errors and failures per step, with latency percentiles, oldest step first', () => {
    let now = 1_000 * STEP;
    const history = new CallHistory(() => now);
    history.record({ server: 'a', status: 'success', duration_ms: 2 });
    history.record({ server: 'a', status: 'error', fault: 'backend', duration_ms: 40 });
    history.record({ server: 'a', status: 'error', fault: 'tool', duration_ms: 3 });
    now += STEP;
    history.record({ server: 'b', status: 'success', duration_ms: 1 });
    const view = history.view(1);
    expect(view.points).toBe(6);
    expect(view.step_seconds).toBe(STEP_SECONDS);
    expect(Date.parse(view.start)).toBe(now - 5 * STEP);
    expect(view.backends.a?.calls).toEqual([0, 0, 0, 0, 3, 0]);
    expect(view.backends.a?.errors).toEqual([0, 0, 0, 0, 1, 0]);
    expect(view.backends.a?.failed).toEqual([0, 0, 0, 0, 2, 0]);
    expect(view.backends.a?.p50_ms.slice(3)).toEqual([null, expect.any(Number), null]);
    expect(view.backends.a?.p95_ms[4]).toBeGreaterThanOrEqual(40);
    expect(view.backends.b?.calls.at(-1)).toBe(1);
    expect(Object.keys(history.view(1, new Set(['b'])).backends)).toEqual(['b']);
    // A finished step keeps its percentiles once its histogram is dropped (a's next call opens a new step).
    history.record({ server: 'a', status: 'success', duration_ms: 1 });
    expect(history.view(1).backends.a?.p95_ms.slice(4)).toEqual([view.backends.a?.p95_ms[4], expect.any(Number)]);
  });

  it('keeps an hour: a step that rolled out of the ring is not counted again when its slot comes round', () => {
    let now = 0;
    const history = new CallHistory(() => now);
    history.record({ server: 'a', status: 'success', duration_ms: 1 });
    now += HISTORY_POINTS * STEP; // the same slot, an hour later
    history.record({ server: 'a', status: 'success', duration_ms: 1 });
    const view = history.view(60);
    expect(view.points).toBe(HISTORY_POINTS);
    expect(view.backends.a?.calls.reduce((n, c) => n + c, 0)).toBe(1);
    expect(history.view(600).points).toBe(HISTORY_POINTS); // never more than the ring holds
    history.drop('a');
    expect(history.view(60).backends).toEqual({});
  });
});
