import { describe, expect, it } from 'vitest';
import { LoadOnset, QuietTime } from '../../src/load-watch.js';

/*
 * [speed] #30: the heap watch's quiet time (src/cli/heap.ts). The gateway
 * counts as idle when its last 40 windows of 250 ms, together, used under
 * 10 % CPU — not when 40 windows in a row each did: an idle gateway's own
 * timers make single busy windows now and then, and the rule "in a row"
 * then never handed memory back (bench rss, 2026-12-07).
 */
describe('QuietTime', () => {
  it('is quiet only once 40 windows have been seen', () => {
    const quiet = new QuietTime();
    for (let i = 0; i < 39; i += 1) expect(quiet.push(0)).toBe(false);
    expect(quiet.push(0)).toBe(true);
  });

  it('is quiet through an idle gateway’s own spikes (a 41 ms window every 5 s over a 10 ms baseline)', () => {
    const quiet = new QuietTime();
    const windows = Array.from({ length: 40 }, (_, i) => (i % 20 === 19 ? 41 : 10));
    const answers = windows.map((ms) => quiet.push(ms));
    expect(answers.at(-1)).toBe(true);
  });

  it('stays busy while the load goes on, and becomes quiet 40 windows after it stops', () => {
    const quiet = new QuietTime();
    for (let i = 0; i < 200; i += 1) expect(quiet.push(120)).toBe(false);
    const after = Array.from({ length: 40 }, () => quiet.push(2));
    // The load's windows leave the sum one by one: quiet once the sum of the last 40 is under 1,000 ms.
    expect(after.indexOf(true)).toBeGreaterThan(20);
    expect(after.at(-1)).toBe(true);
  });

  it('counts again from nothing after reset', () => {
    const quiet = new QuietTime();
    for (let i = 0; i < 40; i += 1) quiet.push(0);
    quiet.reset();
    expect(quiet.push(0)).toBe(false);
  });
});

/*
 * [speed] #30: load starts with two 1 s windows in a row over 10 % of a
 * core, not one: V8's memory reducer runs a full collection some 8 s after
 * each full one (the heap watch's own included), and a single busy window
 * made an idle gateway busy, then idle with two full collections, about
 * every 20 s.
 */
describe('LoadOnset', () => {
  it('takes a single busy window (a collection) for no load', () => {
    const onset = new LoadOnset();
    const answers = [2, 110, 2, 2, 95, 3, 2].map((ms) => onset.push(ms, 1_000));
    expect(answers).toEqual([false, false, false, false, false, false, false]);
  });

  it('starts the load at the second busy window in a row, whatever the window length', () => {
    const onset = new LoadOnset();
    expect([2, 300, 400].map((ms) => onset.push(ms, 1_000))).toEqual([false, false, true]);
    onset.reset();
    expect([30, 30].map((ms) => onset.push(ms, 250))).toEqual([false, true]);
  });
});
