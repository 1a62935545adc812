import { describe, expect, it } from 'vitest';
import { FRESH_MS, InboxMemo } from '../../backends/coord/pg/inbox-memo.js';

describe('[pg-speed] InboxMemo (backends/coord/pg/inbox-memo.ts, KNOWN)', () => {
  it('records what a statement learnt only when no wake-up of the inbox came after its version was taken', () => {
    let now = 1_000;
    const memo = new InboxMemo(() => now);
    const read = memo.begin('x');
    memo.record('x', read, 7);
    expect(memo.emptyPast('x')).toBe(7);
    // A wake-up after the version was taken: what the statement saw may miss that commit.
    const late = memo.begin('x');
    memo.touch('x');
    memo.record('x', late, 9);
    expect(memo.emptyPast('x')).toBeUndefined();
    // A send that handed its message over: its own wake-up is counted, another one is not.
    const send = memo.begin('x');
    memo.touch('x');
    memo.record('x', send, 10, 1);
    expect(memo.emptyPast('x')).toBe(10);
    const raced = memo.begin('x');
    memo.touch('x');
    memo.touch('x');
    memo.record('x', raced, 11, 1);
    expect(memo.emptyPast('x')).toBeUndefined();
    // Other inboxes are not touched by this one's wake-ups; a gap drops everything; an entry is fresh for FRESH_MS only.
    memo.record('y', memo.begin('y'), 3);
    memo.touch('x');
    expect(memo.emptyPast('y')).toBe(3);
    now += FRESH_MS;
    expect(memo.emptyPast('y')).toBeUndefined();
    memo.record('y', memo.begin('y'), 4);
    const before = memo.begin('y');
    memo.clear();
    memo.record('y', before, 5);
    expect(memo.emptyPast('y')).toBeUndefined();
  });
});
