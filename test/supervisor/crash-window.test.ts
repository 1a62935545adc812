import { describe, expect, it } from 'vitest';
import { SupervisorSchema } from '../../src/config/schema.js';
import { CrashWindow } from '../../src/supervisor/crash-window.js';

const settings = SupervisorSchema.parse({ crash_loop_window: 60, crash_loop_restarts: 3, restart_backoff_min: 100, restart_backoff_max: 1_000 });

describe('CrashWindow', () => {
  it('gives up at crash_loop_restarts failures inside the window and forgets older ones', () => {
    const window = new CrashWindow(settings);
    expect(window.record(0)).toBe(true);
    expect(window.record(1_000)).toBe(true);
    expect(window.record(2_000)).toBe(false);
    expect(window.gaveUp()).toBe('gave up after 3 failures in 60 s');
    // 61 s after the first two, only the third and this one are in the window.
    expect(window.record(61_500)).toBe(true);
    expect(window.count).toBe(2);
    window.clear();
    expect(window.count).toBe(0);
  });

  it('backs off exponentially within [½, 1] of the step, capped at restart_backoff_max', () => {
    const window = new CrashWindow(settings);
    for (let i = 0; i < 200; i++) {
      const first = window.backoff(1);
      expect(first).toBeGreaterThanOrEqual(50);
      expect(first).toBeLessThanOrEqual(100);
      const third = window.backoff(3);
      expect(third).toBeGreaterThanOrEqual(200);
      expect(third).toBeLessThanOrEqual(400);
      const capped = window.backoff(20);
      expect(capped).toBeGreaterThanOrEqual(500);
      expect(capped).toBeLessThanOrEqual(1_000);
    }
  });
});
