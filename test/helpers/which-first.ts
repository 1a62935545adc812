/**
 * The name of whichever promise answers first: an ordering check that reads
 * no clock. Tests race the call under test against a reference that runs on
 * the server's own timer (an idle long poll with a known timeout), so a slow,
 * shared machine delays both alike. If the first to settle rejects, so does
 * this: a failing reference never wins the race by accident.
 */
export function whichFirst(racers: Record<string, Promise<unknown>>): Promise<string> {
  return Promise.race(Object.entries(racers).map(([name, promise]) => promise.then(() => name)));
}
