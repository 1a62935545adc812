import { describe, expect, it, vi } from 'vitest';
import { longPollAsync } from '../../backends/coord/pg/long-poll.js';
import { Notifier } from '../../kit/notifier.js';

// [pg-speed] The PostgreSQL long-poll's turns wait on notifier subscriptions (no AbortController per turn): the rules of
// the wait stay those of Notifier.wait, and no waiter outlives its poll.
describe('longPollAsync on notifier subscriptions', () => {
  it('a wake-up during the check ends the next wait at once, and the poll leaves no waiter behind', async () => {
    const notifier = new Notifier();
    const reasons: string[] = [];
    const found = await longPollAsync(notifier, 'k', 60_000, undefined, async (why) => {
      reasons.push(why);
      if (why === 'first') {
        // [pg-speed] MARK: no waiter (nor timer) while the check reads; only a check that finds nothing subscribes.
        expect(notifier.size).toBe(0);
        notifier.notify('k'); // a commit while the check reads
        return undefined;
      }
      return 'found';
    });
    expect(found).toBe('found');
    expect(reasons).toEqual(['first', 'woken']);
    expect(notifier.size).toBe(0);
  });

  it('a wake-up between the check and the wait, or of every key, sends the poll to check again; another key does not', async () => {
    const notifier = new Notifier();
    const reasons: string[] = [];
    const found = await longPollAsync(notifier, 'k', 60_000, undefined, (why) => {
      reasons.push(why);
      if (reasons.length === 1) {
        // Notified after the check answered, before its caller's continuation runs (a send's wake-up in a microtask).
        queueMicrotask(() => notifier.notify('k'));
        return Promise.resolve(undefined);
      }
      if (reasons.length === 2) {
        notifier.notifyAll(); // a LISTEN connection reopened while the check read
        return Promise.resolve(undefined);
      }
      if (reasons.length === 3) {
        notifier.notify('other'); // another inbox: this poll waits
        setImmediate(() => notifier.notify('k'));
        return Promise.resolve(undefined);
      }
      return Promise.resolve('found');
    });
    expect(found).toBe('found');
    expect(reasons).toEqual(['first', 'woken', 'woken', 'woken']);
    expect(notifier.size).toBe(0);
  });

  it('a notifier that forgets its topics answers "notified" for every mark taken before (a spare check, never a missed one)', () => {
    const notifier = new Notifier();
    const mark = notifier.mark;
    for (let i = 0; i < 10_000; i += 1) notifier.notify(`t${i}`);
    expect(notifier.notifiedSince('k', mark)).toBe(false);
    const later = notifier.mark;
    notifier.notify('one more'); // the 10,001st topic: the counts are forgotten
    expect(notifier.notifiedSince('k', mark)).toBe(true);
    expect(notifier.notifiedSince('k', later)).toBe(true);
    expect(notifier.notifiedSince('k', notifier.mark)).toBe(false);
  });

  it('the caller going away during the wait ends the poll with nothing, without waiting for the timeout', async () => {
    const notifier = new Notifier();
    const gone = new AbortController();
    let checks = 0;
    const poll = longPollAsync(notifier, 'k', 60_000, gone.signal, async () => {
      checks += 1;
      return undefined;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(notifier.size).toBe(1);
    gone.abort();
    expect(await poll).toBeUndefined();
    expect(checks).toBe(1);
    expect(notifier.size).toBe(0);
  });

  it('a poll whose first check answers never listens to the caller; one that waits listens once and lets go', async () => {
    const notifier = new Notifier();
    const caller = new AbortController();
    const add = vi.spyOn(caller.signal, 'addEventListener');
    const remove = vi.spyOn(caller.signal, 'removeEventListener');
    expect(await longPollAsync(notifier, 'k', 60_000, caller.signal, async () => 'at once')).toBe('at once');
    expect(add).not.toHaveBeenCalled();
    let turns = 0;
    const found = await longPollAsync(notifier, 'k', 60_000, caller.signal, async () => {
      turns += 1;
      if (turns < 3) setImmediate(() => notifier.notify('k'));
      return turns === 3 ? 'third' : undefined;
    });
    expect(found).toBe('third');
    expect(add).toHaveBeenCalledTimes(1);
    expect(remove).toHaveBeenCalledTimes(1);
    expect(notifier.size).toBe(0);
  });

  it('the caller going away during the check ends the poll after it, without another wait', async () => {
    const notifier = new Notifier();
    const gone = new AbortController();
    const found = await longPollAsync(notifier, 'k', 60_000, gone.signal, async () => {
      gone.abort();
      return undefined;
    });
    expect(found).toBeUndefined();
    expect(notifier.size).toBe(0);
  });

  it('a wait that times out re-checks as "recheck"; the deadline ends the poll; a closed notifier ends it at once', async () => {
    const notifier = new Notifier();
    const reasons: string[] = [];
    const found = await longPollAsync(
      notifier,
      'k',
      60_000,
      undefined,
      async (why) => {
        reasons.push(why);
        return why === 'recheck' ? 'again' : undefined;
      },
      5,
    );
    expect(found).toBe('again');
    expect(reasons).toEqual(['first', 'recheck']);
    expect(await longPollAsync(notifier, 'k', 0, undefined, async () => undefined)).toBeUndefined();
    const closing = longPollAsync(notifier, 'k', 60_000, undefined, async () => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    notifier.close();
    expect(await closing).toBeUndefined();
    expect(notifier.size).toBe(0);
  });

  it('Notifier.wait keeps its rules on top of subscribe: notified, aborted, timed out', async () => {
    const notifier = new Notifier();
    const woken = notifier.wait('k', 60_000);
    notifier.notify('k');
    expect(await woken).toBe(true);
    const gone = new AbortController();
    const aborted = notifier.wait('k', 60_000, gone.signal);
    gone.abort();
    expect(await aborted).toBe(false);
    expect(await notifier.wait('k', 1)).toBe(false);
    expect(notifier.size).toBe(0);
    let calls = 0;
    const cancel = notifier.subscribe('k', 60_000, () => {
      calls += 1;
    });
    cancel();
    notifier.notify('k');
    expect(calls).toBe(0);
    expect(notifier.size).toBe(0);
  });
});
