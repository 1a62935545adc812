import type { SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';

/*
 * Sweeps of time-based changes (claims expiring, threads resolving by
 * timeout): run lazily before the writes that depend on them, and on a timer
 * so that their events are timely even when nobody writes.
 */

/** An unref'd timer calling `sweep` every half `periodSeconds`, between 50 ms and 30 s. */
export function sweepTimer(periodSeconds: number, sweep: () => void): NodeJS.Timeout {
  const timer = setInterval(sweep, Math.min(30_000, Math.max(50, (periodSeconds * 1000) / 2)));
  timer.unref();
  return timer;
}

/**
 * Runs `body` (returning how many rows it changed) in its own IMMEDIATE
 * transaction and wakes event readers if it changed any. `due` is asked
 * first, outside any transaction, so that the reads that sweep before
 * answering take the write lock only when something did lapse.
 */
export function sweepOnce(ctx: SqliteContext, events: SqliteEvents, due: (at: number) => boolean, body: (at: number) => number): void {
  if (ctx.isClosed() || !due(ctx.now())) return;
  const count = ctx.db.transaction(() => body(ctx.now())).immediate();
  if (count > 0) events.committed();
}
