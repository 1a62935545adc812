/*
 * Sweeps of time-based changes (claims expiring, threads resolving by
 * timeout) run lazily before the writes that depend on them, and on a timer
 * so that their events are timely even when nobody writes.
 */

/** An unref'd timer calling `sweep` every half `periodSeconds`, between 50 ms and 30 s. */
export function sweepTimer(periodSeconds: number, sweep: () => void): NodeJS.Timeout {
  const timer = setInterval(sweep, Math.min(30_000, Math.max(50, (periodSeconds * 1000) / 2)));
  timer.unref();
  return timer;
}
