import { SdkError, SdkErrorCode } from '@modelcontextprotocol/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadline } from '../../src/router/deadline.js';

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('Deadline', () => {
  it('expires after timeout ms without progress, with a reason only it owns', () => {
    const d = new Deadline(100, 1_000);
    vi.advanceTimersByTime(99);
    expect(d.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(d.signal.aborted).toBe(true);
    expect(d.expired(d.signal.reason)).toBe(true);
    // A backend's own -32001 answer is not the deadline's expiry.
    expect(d.expired(new SdkError(SdkErrorCode.RequestTimeout, 'Request timed out'))).toBe(false);
  });

  it('counts no time while paused (a request parked for a 2026-07-28 caller, issue 24); resume starts the idle time over and moves maxTotal', () => {
    const d = new Deadline(100, 150);
    vi.advanceTimersByTime(90);
    d.pause();
    d.extend(); // progress while paused changes nothing
    vi.advanceTimersByTime(10_000);
    expect(d.signal.aborted).toBe(false);
    d.resume();
    vi.advanceTimersByTime(59);
    expect(d.signal.aborted).toBe(false);
    // maxTotal (150) moved by the pause: 90 + 60 = 150 of counted time.
    vi.advanceTimersByTime(1);
    expect(d.signal.aborted).toBe(true);
    expect(d.expired(d.signal.reason)).toBe(true);
  });

  it('starts the idle time over on progress, never past maxTotal', () => {
    const d = new Deadline(100, 250);
    vi.advanceTimersByTime(90);
    d.extend();
    vi.advanceTimersByTime(90);
    d.extend();
    expect(d.signal.aborted).toBe(false);
    vi.advanceTimersByTime(69);
    expect(d.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(d.signal.aborted).toBe(true);
    expect(d.expired(d.signal.reason)).toBe(true);
  });

  it('reports the limit it applied: the idle timeout, or maxTotal once that cut the idle time short (#20 item 6)', () => {
    const idle = new Deadline(100, 250);
    vi.advanceTimersByTime(100);
    expect(idle.applied()).toEqual({ ms: 100, capped: false });

    const capped = new Deadline(100, 250);
    vi.advanceTimersByTime(90);
    capped.extend();
    expect(capped.applied()).toEqual({ ms: 100, capped: false });
    vi.advanceTimersByTime(90);
    capped.extend(); // 70 ms left before maxTotal: the cap ends it
    expect(capped.applied()).toEqual({ ms: 250, capped: true });
    vi.advanceTimersByTime(70);
    expect(capped.signal.aborted).toBe(true);

    // Without room above the timeout there is no cap to quote.
    const hard = new Deadline(100, 100);
    hard.extend();
    expect(hard.applied()).toEqual({ ms: 100, capped: false });
  });

  it('aborts with the caller’s reason when the caller aborts, which is not an expiry', () => {
    const caller = new AbortController();
    const d = new Deadline(100, 100, caller.signal);
    caller.abort('gone');
    expect(d.signal.aborted).toBe(true);
    expect(d.signal.reason).toBe('gone');
    expect(d.expired(d.signal.reason)).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(d.signal.reason).toBe('gone');
  });

  it('leaves no timer behind once cleared', () => {
    const d = new Deadline(100, 100, new AbortController().signal);
    d.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(d.signal.aborted).toBe(false);
  });
});
