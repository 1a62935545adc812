import { afterEach, describe, expect, it } from 'vitest';
import type { AsyncCall, DispatchStore } from '../../src/store/dispatch-store.js';

/** Opens a fresh, empty store; `close` releases it. */
export type MakeDispatchStore = () => Promise<{ store: DispatchStore; close: () => Promise<void> }>;

let ids = 0;
/** A pending call submitted at `at` (ISO), with every field set. */
export function pendingCall(at: string, extra: Partial<AsyncCall> = {}): AsyncCall {
  ids += 1;
  return {
    id: `call_${ids}_${Math.random().toString(36).slice(2)}`,
    state: 'pending',
    server: 'demo',
    tool: 'echo',
    caller: 'agent-a',
    owner: 'agent-a',
    submitted_at: at,
    started_at: null,
    finished_at: null,
    expires_at: null,
    result: null,
    error: null,
    progress: null,
    ...extra,
  };
}

/** What every DispatchStore does, written against the interface only (SQLite and PostgreSQL run it). */
export function dispatchContract(name: string, make: MakeDispatchStore): void {
  describe(`DispatchStore contract: ${name}`, () => {
    const open: (() => Promise<void>)[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((close) => close()));
    });
    const fresh = async (): Promise<DispatchStore> => {
      const { store, close } = await make();
      open.push(close);
      return store;
    };

    it('stores a call and reads it back field for field, JSON fields included', async () => {
      const store = await fresh();
      const call = pendingCall('2026-06-10T04:00:00.000Z');
      await store.insert(call);
      expect(await store.get(call.id)).toEqual(call);
      const done: AsyncCall = {
        ...call,
        state: 'complete',
        started_at: '2026-06-10T04:00:00.100Z',
        finished_at: '2026-06-10T04:00:01.000Z',
        expires_at: Date.parse('2026-06-10T05:00:01.000Z'),
        result: { content: [{ type: 'text', text: 'héllo "quoted" ✓' }], structuredContent: { n: 1.5, list: [null, true] } },
        progress: { progress: 3, total: 4, message: 'almost' },
      };
      await store.update(done);
      expect(await store.get(call.id)).toEqual(done);
      const failed: AsyncCall = { ...done, state: 'failed', result: null, error: { code: 'TIMEOUT', message: 'took too long' }, progress: null };
      await store.update(failed);
      expect(await store.get(call.id)).toEqual(failed);
      expect(await store.get('call_missing')).toBeUndefined();
    });

    it('marks a batch of calls running, leaving a call that finished first as it is (issue 19)', async () => {
      const store = await fresh();
      const a = pendingCall('2026-06-10T04:00:00.000Z');
      const b = pendingCall('2026-06-10T04:00:00.001Z');
      const done = pendingCall('2026-06-10T04:00:00.002Z');
      for (const c of [a, b, done]) await store.insert(c);
      const finished: AsyncCall = {
        ...done,
        state: 'complete',
        started_at: '2026-06-10T04:00:00.003Z',
        finished_at: '2026-06-10T04:00:00.004Z',
        result: { content: [] },
      };
      await store.update(finished);
      await store.markRunning([a, b, done].map((c) => ({ id: c.id, started_at: '2026-06-10T04:00:00.010Z' })));
      expect(await store.get(a.id)).toMatchObject({ state: 'running', started_at: '2026-06-10T04:00:00.010Z' });
      expect(await store.get(b.id)).toMatchObject({ state: 'running', started_at: '2026-06-10T04:00:00.010Z' });
      expect(await store.get(done.id)).toEqual(finished);
      // After a crash (far enough ahead that a PostgreSQL lease has lapsed), the message says which state the call was in.
      await store.interruptUnfinished(Date.parse('2100-01-01T00:00:00.000Z'), 60_000);
      expect((await store.get(a.id))?.error?.message).toMatch(/while this call was running/);
    });

    it('refuses a second call with the same id', async () => {
      const store = await fresh();
      const call = pendingCall('2026-06-10T04:00:00.000Z');
      await store.insert(call);
      await expect(store.insert(call)).rejects.toThrow();
      expect(await store.count()).toBe(1);
    });

    it('lists newest first, by owner, before a time, up to a limit', async () => {
      const store = await fresh();
      const a1 = pendingCall('2026-06-10T04:00:01.000Z', { owner: 'a' });
      const b1 = pendingCall('2026-06-10T04:00:02.000Z', { owner: 'b' });
      const a2 = pendingCall('2026-06-10T04:00:03.000Z', { owner: 'a' });
      const open1 = pendingCall('2026-06-10T04:00:04.000Z', { owner: null });
      for (const c of [a1, b1, a2, open1]) await store.insert(c);
      const idsOf = (calls: AsyncCall[]): string[] => calls.map((c) => c.id);
      expect(idsOf(await store.list(null, 10))).toEqual([open1.id, a2.id, b1.id, a1.id]);
      expect(idsOf(await store.list('a', 10))).toEqual([a2.id, a1.id]);
      expect(idsOf(await store.list('a', 1))).toEqual([a2.id]);
      expect(idsOf(await store.list(null, 10, a2.submitted_at))).toEqual([b1.id, a1.id]);
      expect(idsOf(await store.list('b', 10, b1.submitted_at))).toEqual([]);
      expect(await store.count()).toBe(4);
    });

    it('filters by state, backend and expiry before the limit', async () => {
      const store = await fresh();
      const running = pendingCall('2026-06-10T04:00:01.000Z', { state: 'running', server: 'slow' });
      const done = pendingCall('2026-06-10T04:00:02.000Z', { state: 'complete', expires_at: 2_000 });
      const expired = pendingCall('2026-06-10T04:00:03.000Z', { state: 'complete', expires_at: 1_000 });
      for (const c of [running, done, expired]) await store.insert(c);
      const idsOf = (calls: AsyncCall[]): string[] => calls.map((c) => c.id);
      expect(idsOf(await store.list(null, 1, undefined, { active: true }))).toEqual([running.id]);
      expect(idsOf(await store.list(null, 1, undefined, { servers: ['slow'] }))).toEqual([running.id]);
      expect(idsOf(await store.list(null, 10, undefined, { servers: [] }))).toEqual([]);
      expect(idsOf(await store.list(null, 10, undefined, { now: 1_500 }))).toEqual([done.id, running.id]);
      expect(idsOf(await store.list(null, 10, undefined, { servers: ['demo'], now: 1_500 }))).toEqual([done.id]);
    });

    it('expires finished calls whose time is up and keeps the others', async () => {
      const store = await fresh();
      const now = Date.parse('2026-06-10T04:00:00Z');
      const old = pendingCall('2026-06-10T03:00:00.000Z', { state: 'complete', expires_at: now - 1 });
      const edge = pendingCall('2026-06-10T03:00:01.000Z', { state: 'failed', expires_at: now, error: { code: 'X', message: 'x' } });
      const fresh1 = pendingCall('2026-06-10T03:00:02.000Z', { state: 'complete', expires_at: now + 1 });
      const running = pendingCall('2026-06-10T03:00:03.000Z');
      for (const c of [old, edge, fresh1, running]) await store.insert(c);
      expect(await store.expire(now)).toBe(2);
      expect(await store.get(old.id)).toBeUndefined();
      expect(await store.get(edge.id)).toBeUndefined();
      expect(await store.get(fresh1.id)).toBeDefined();
      expect(await store.get(running.id)).toBeDefined();
      expect(await store.count()).toBe(2);
      expect(await store.expire(now)).toBe(0);
    });

    it('turns calls left unfinished by a gone gateway into failed/INTERRUPTED and leaves finished ones alone', async () => {
      const store = await fresh();
      const pending = pendingCall('2026-06-10T04:00:00.000Z');
      const running = pendingCall('2026-06-10T04:00:01.000Z', { state: 'running', started_at: '2026-06-10T04:00:01.500Z' });
      const done = pendingCall('2026-06-10T04:00:02.000Z', { state: 'complete', result: { content: [] }, expires_at: Date.parse('2026-06-10T05:00:00Z') });
      for (const c of [pending, running, done]) await store.insert(c);
      // Far enough ahead that any lease the store keeps has lapsed.
      const now = Date.now() + 3_600_000;
      expect(await store.interruptUnfinished(now, 60_000)).toBe(2);
      for (const c of [pending, running]) {
        const after = await store.get(c.id);
        expect(after).toMatchObject({ state: 'failed', finished_at: new Date(now).toISOString(), expires_at: now + 60_000, error: { code: 'INTERRUPTED' } });
        expect(after?.error?.message).toContain(`while this call was ${c.state}`);
      }
      expect(await store.get(done.id)).toEqual(done);
      expect(await store.interruptUnfinished(now, 60_000)).toBe(0);
    });
  });
}
