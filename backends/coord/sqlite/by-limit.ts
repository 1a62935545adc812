import type { Database, Statement } from 'better-sqlite3';

/**
 * One prepared statement per page size, with the LIMIT written into its SQL
 * as a number. A statement whose LIMIT is a bound parameter is compiled
 * again on every run: the driver's SQLite has STAT4, so binding a parameter
 * the planner looked at expires the plan. On the poll's inbox read that was
 * 7–8 µs of a 9 µs statement. Page sizes are validated whole numbers up to
 * LIMITS.maxPage, so there are few statements.
 */
export function byLimit<P extends unknown[], R>(db: Database, sql: (limit: number) => string): (limit: number) => Statement<P, R> {
  const statements = new Map<number, Statement<P, R>>();
  return (limit) => {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`byLimit: ${limit} is not a page size`);
    let statement = statements.get(limit);
    if (statement === undefined) {
      statement = db.prepare<P, R>(sql(limit));
      statements.set(limit, statement);
    }
    return statement;
  };
}
