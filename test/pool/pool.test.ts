import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PoolSettings } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import type { Connection } from '../../src/pool/connection.js';
import { type ConnectionFactory, Pool } from '../../src/pool/pool.js';
import { FakeBackend, textOf } from '../helpers/mcp-link.js';

const SETTINGS: PoolSettings = {
  min: 0,
  max: 1,
  max_idle: 10,
  idle_timeout: 0,
  acquire_timeout: 300,
  max_waiting: 10,
  max_concurrency: 4,
  max_session_connections: 4,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  pool: Pool;
  backend: FakeBackend;
  create: ReturnType<typeof vi.fn<() => Promise<Connection>>>;
}

function setup(settings: Partial<PoolSettings> = {}, factory: Partial<ConnectionFactory> = {}): Setup {
  const backend = new FakeBackend();
  const create = vi.fn(async () => (await backend.link()).connection);
  const pool = new Pool('fake', { ...SETTINGS, ...settings }, { create, ...factory });
  cleanups.push(
    () => backend.closeAll(),
    () => pool.close(),
  );
  return { pool, backend, create };
}

/** A call that blocks in the backend until backend.release(); resolves to the connection it ran on. */
function hold(pool: Pool): Promise<Connection> {
  return pool.use(async (c) => {
    await c.client.callTool({ name: 'hold', arguments: {} });
    return c;
  });
}

/** Whether a promise is still pending once the event loop has turned. */
async function settledYet(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const result = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise((resolve) => setImmediate(() => resolve(marker))),
  ]);
  return result !== marker;
}

describe('Pool sharing one connection', () => {
  // reveals bug: calls that arrive while the first borrow from generic-pool is
  // still under way become waiters, and a waiter is only handed a connection
  // when a call finishes, one waiter per finished call. A burst of parallel
  // tool calls on an idle backend is serialized and can hit POOL_EXHAUSTED.
  it('runs 4 calls arriving together on one connection at once (max 1, max_concurrency 4)', async () => {
    const { pool, backend, create } = setup();
    const calls = Promise.allSettled([hold(pool), hold(pool), hold(pool), hold(pool)]);
    const reached = await backend.untilInflight(4).then(
      () => 'all 4 at once',
      (e: Error) => e.message,
    );
    backend.release();
    const results = await calls;
    expect(reached).toBe('all 4 at once');
    expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : String(r.reason)))).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(new Set(results.map((r) => (r.status === 'fulfilled' ? r.value.id : -1))).size).toBe(1);
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('multiplexes calls arriving while one is in flight, and a 5th gets POOL_EXHAUSTED after acquire_timeout', async () => {
    const { pool, backend, create } = setup();
    const first = hold(pool);
    await backend.untilInflight(1);
    const more = [hold(pool), hold(pool), hold(pool)];
    await backend.untilInflight(4);
    expect(pool.stats()).toMatchObject({ size: 1, active: 1, inflight: 4, pending: 0 });

    const fifth = pool.use((c) => c.client.callTool({ name: 'echo', arguments: { text: 'late' } }));
    expect(await settledYet(fifth)).toBe(false);
    expect(pool.stats().pending).toBe(1);
    const error = await fifth.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('POOL_EXHAUSTED');
    expect((error as GatewayError).message).toContain("'fake'");
    expect(pool.stats().pending).toBe(0);

    backend.release();
    const used = await Promise.all([first, ...more]);
    expect(new Set(used.map((c) => c.id)).size).toBe(1);
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('hands a waiter the connection when a call finishes (max_concurrency 1)', async () => {
    const { pool, backend } = setup({ max_concurrency: 1, acquire_timeout: 5_000 });
    const first = hold(pool);
    await backend.untilInflight(1);
    const second = pool.use(async (c) => ({ c, text: textOf(await c.client.callTool({ name: 'echo', arguments: { text: 'next' } })) }));
    expect(await settledYet(second)).toBe(false);
    expect(pool.stats()).toMatchObject({ pending: 1, inflight: 1 });
    backend.release();
    const [a, b] = await Promise.all([first, second]);
    expect(b.text).toBe('next');
    expect(b.c).toBe(a);
  });
});

describe('Pool growth and replacement', () => {
  it('creates a second connection when the first is busy and max is 2', async () => {
    const { pool, backend, create } = setup({ max: 2 });
    const first = hold(pool);
    await backend.untilInflight(1);
    const second = hold(pool);
    await backend.untilInflight(2);
    expect(create).toHaveBeenCalledTimes(2);
    expect(pool.stats()).toMatchObject({ size: 2, active: 2, inflight: 2 });
    backend.release();
    const [a, b] = await Promise.all([first, second]);
    expect(a).not.toBe(b);
  });

  it('destroys an idle connection whose link died instead of reusing it', async () => {
    const { pool, backend, create } = setup();
    const used = await pool.use(async (c) => c);
    const link = backend.linkOf(used);
    await link.kill();
    await used.ended;
    expect(used.alive).toBe(false);
    const next = await pool.use(async (c) => {
      expect(textOf(await c.client.callTool({ name: 'echo', arguments: { text: 'fresh' } }))).toBe('fresh');
      return c;
    });
    expect(next).not.toBe(used);
    expect(create).toHaveBeenCalledTimes(2);
    expect(link.shutdowns()).toBe(1);
  });

  it('replaces a connection that died during a call', async () => {
    const { pool, backend, create } = setup();
    const doomed = hold(pool);
    await backend.untilInflight(1);
    await backend.links[0]?.kill();
    await expect(doomed).rejects.toThrow();
    const next = await pool.use(async (c) => c);
    expect(next.alive).toBe(true);
    expect(next).not.toBe(backend.links[0]?.connection);
    expect(create).toHaveBeenCalledTimes(2);
  });
});

describe('Pool and a factory that cannot make more now', () => {
  it('shares a live connection when a new one fails to start, instead of failing the call', async () => {
    const backend = new FakeBackend();
    let made = 0;
    const create = vi.fn(async () => {
      made += 1;
      if (made > 1) throw new GatewayError('BACKEND_UNAVAILABLE', 'second process failed to start');
      return (await backend.link()).connection;
    });
    // A long acquire_timeout: the shared call must not wait for it.
    const pool = new Pool('fake', { ...SETTINGS, max: 2, acquire_timeout: 60_000 }, { create });
    cleanups.push(
      () => backend.closeAll(),
      () => pool.close(),
    );
    const first = hold(pool);
    await backend.untilInflight(1);
    const second = hold(pool); // would grow; the factory fails; shares link 1
    await backend.untilInflight(2);
    backend.release();
    const [a, b] = await Promise.all([first, second]);
    expect(b).toBe(a);
    expect(create.mock.calls.length).toBeGreaterThanOrEqual(2);
  });

  it('does not ask the factory while it holds off, as long as a live connection has room', async () => {
    const { pool, backend, create } = setup({ max: 3 }, { holdOff: () => true });
    const first = hold(pool);
    await backend.untilInflight(1);
    const more = [hold(pool), hold(pool)];
    await backend.untilInflight(3);
    expect(create).toHaveBeenCalledTimes(1);
    backend.release();
    const used = await Promise.all([first, ...more]);
    expect(new Set(used.map((c) => c.id)).size).toBe(1);
  });

  it('lets a call that waited through a restart take the adopted connection, and still settles adopt()', async () => {
    const { pool, backend } = setup({ acquire_timeout: 2_000 }, { create: () => Promise.reject(new GatewayError('BACKEND_UNAVAILABLE', 'restarting')) });
    await pool.adopt((await backend.link()).connection);
    const doomed = hold(pool);
    await backend.untilInflight(1);
    await backend.links[0]?.kill();
    await expect(doomed).rejects.toThrow();
    // A call arrives while the backend restarts: its borrow waits in generic-pool.
    const waiting = pool.use(async (c) => c);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const fresh = (await backend.link()).connection;
    await pool.adopt(fresh); // settles although the waiting call took it
    expect(await waiting).toBe(fresh);
    for (let i = 0; i < 20 && pool.stats().pending > 0; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(pool.stats()).toMatchObject({ size: 1, pending: 0 });
  });
});

describe('Pool idle reaping', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('closes idle connections above min after idle_timeout, and never goes below min', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { pool, backend, create } = setup({ min: 1, max: 2, idle_timeout: 1 });
    const first = hold(pool);
    await backend.untilInflight(1);
    const second = hold(pool);
    await backend.untilInflight(2);
    backend.release();
    await Promise.all([first, second]);
    expect(pool.stats()).toMatchObject({ size: 2, available: 2 });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(pool.stats()).toMatchObject({ size: 1, available: 1 });
    expect(backend.links.filter((l) => l.shutdowns() > 0)).toHaveLength(1);
    // generic-pool's own idle timeout (30 s by default) would close the last one too.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(pool.stats()).toMatchObject({ size: 1, available: 1 });
    expect(create).toHaveBeenCalledTimes(2);
  });
});

describe('Pool limits and errors', () => {
  it('refuses at once with POOL_EXHAUSTED when max_waiting is 0', async () => {
    const { pool, backend } = setup({ max_concurrency: 1, max_waiting: 0, acquire_timeout: 60_000 });
    const first = hold(pool);
    await backend.untilInflight(1);
    const refused = pool.use(async () => 'ran');
    expect(await settledYet(refused)).toBe(true);
    await expect(refused).rejects.toMatchObject({ code: 'POOL_EXHAUSTED' });
    backend.release();
    await first;
  });

  it('reports the factory’s last error instead of a bare acquire timeout', async () => {
    const why = new GatewayError('BACKEND_UNAVAILABLE', "Backend 'fake' exited with code 1 — last stderr: ENOENT config.json");
    const create = vi.fn(() => Promise.reject(new Error('spawn failed')));
    const pool = new Pool('fake', SETTINGS, { create, lastError: () => why });
    cleanups.push(() => pool.close());
    await expect(pool.use(async () => 'never')).rejects.toBe(why);
    expect(create).toHaveBeenCalled();
  });

  it('says POOL_EXHAUSTED when the factory keeps failing and has no lastError', async () => {
    const pool = new Pool('fake', SETTINGS, { create: () => Promise.reject(new Error('spawn failed')) });
    cleanups.push(() => pool.close());
    await expect(pool.use(async () => 'never')).rejects.toMatchObject({ code: 'POOL_EXHAUSTED' });
  });
});

describe('Pool adopt, stats and close', () => {
  it('uses an adopted connection instead of asking the factory', async () => {
    const { pool, backend, create } = setup();
    const adopted = (await backend.link()).connection;
    await pool.adopt(adopted);
    expect(pool.stats()).toEqual({ size: 1, available: 1, active: 0, pending: 0, inflight: 0 });
    expect(await pool.use(async (c) => c)).toBe(adopted);
    expect(create).not.toHaveBeenCalled();
  });

  it('counts connections, active ones, waiting calls and calls in flight', async () => {
    const { pool, backend } = setup({ max_concurrency: 1, acquire_timeout: 5_000 });
    expect(pool.stats()).toEqual({ size: 0, available: 0, active: 0, pending: 0, inflight: 0 });
    const first = hold(pool);
    await backend.untilInflight(1);
    const waiting = hold(pool);
    expect(await settledYet(waiting)).toBe(false);
    expect(pool.stats()).toEqual({ size: 1, available: 0, active: 1, pending: 1, inflight: 1 });
    expect(pool.activeConnections).toHaveLength(1);
    backend.release();
    await Promise.all([first, waiting]);
    expect(await settledYet(Promise.resolve())).toBe(true);
    expect(pool.stats()).toMatchObject({ size: 1, active: 0, pending: 0, inflight: 0 });
  });

  it('closes idempotently, rejects waiters with BACKEND_UNAVAILABLE and shuts every connection', async () => {
    const { pool, backend, create } = setup({ max_concurrency: 1, acquire_timeout: 5_000 });
    const running = hold(pool);
    await backend.untilInflight(1);
    const waiting = pool.use(async () => 'never');
    expect(await settledYet(waiting)).toBe(false);

    const closing = pool.close();
    expect(pool.close()).toBe(closing);
    await expect(waiting).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await closing;
    await expect(running).rejects.toThrow();
    expect(backend.links.map((l) => l.shutdowns())).toEqual([1]);

    await expect(pool.use(async () => 'after close')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(create).toHaveBeenCalledTimes(1);
    await pool.close();
  });

  it('closes an adopted connection that was never used, and refuses adoption once closed', async () => {
    const { pool, backend } = setup();
    await pool.adopt((await backend.link()).connection);
    await pool.close();
    expect(backend.links[0]?.shutdowns()).toBe(1);
    const late = (await backend.link()).connection;
    await expect(pool.adopt(late)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(late.alive).toBe(false);
  });
});
