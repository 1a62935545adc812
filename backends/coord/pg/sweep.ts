import { sweepTimer } from '../sweep-timer.js';
import { type PgContext, type PgTx, row, write } from './context.js';

/**
 * Runs `body` in its own write transaction when `due` (a query of one
 * parameter, the time) finds a lapsed row. The check runs without the lock,
 * so reads that sweep before answering take it only when something lapsed;
 * `body` looks again under the lock, so concurrent sweeps on several
 * gateways change each row once.
 */
export async function sweepLapsed(ctx: PgContext, due: string, body: (tx: PgTx, at: number) => Promise<void>): Promise<void> {
  if (ctx.isClosed() || (await row(ctx.pool, due, [ctx.now()])) === undefined) return;
  await write(ctx, (tx) => body(tx, ctx.now()));
}

/** A sweep on a timer (sweep-timer.ts); a failed run is logged, the next one tries again. */
export function pgSweepTimer(ctx: PgContext, periodSeconds: number, sweep: () => Promise<void>, what: string): NodeJS.Timeout {
  return sweepTimer(periodSeconds, () => void sweep().catch((err: unknown) => ctx.logger?.warn({ err }, what)));
}
