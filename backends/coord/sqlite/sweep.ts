import type { SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';

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
