import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PoolSettings } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import { AffinityPool, type SessionRef } from '../../src/pool/affinity-pool.js';
import type { Connection } from '../../src/pool/connection.js';
import { FakeBackend } from '../helpers/mcp-link.js';

const SETTINGS: PoolSettings = {
  min: 0,
  max: 1,
  max_idle: 10,
  idle_timeout: 0,
  acquire_timeout: 2_000,
  max_waiting: 10,
  max_concurrency: 4,
  max_session_connections: 2,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup(
  affinity: 'shared' | 'session',
  settings: Partial<PoolSettings> = {},
): { pool: AffinityPool; backend: FakeBackend; create: ReturnType<typeof vi.fn<() => Promise<Connection>>> } {
  const backend = new FakeBackend();
  const create = vi.fn(async () => (await backend.link()).connection);
  const pool = new AffinityPool('fake', { ...SETTINGS, ...settings }, { create }, affinity);
  cleanups.push(
    () => backend.closeAll(),
    () => pool.close(),
  );
  return { pool, backend, create };
}

const session = (id: string): SessionRef & { ended: boolean } => ({ id, ended: false });

/** The connection a call of `ref` runs on (undefined: a call without a session). */
const on = (pool: AffinityPool, ref?: SessionRef): Promise<Connection> => pool.use(async (c) => c, ref);

/** A call of `ref` that blocks in the backend until backend.release(). */
const hold = (pool: AffinityPool, ref?: SessionRef): Promise<Connection> =>
  pool.use(async (c) => {
    await c.client.callTool({ name: 'hold', arguments: {} });
    return c;
  }, ref);

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('AffinityPool with affinity = "shared"', () => {
  it('serves every session on the shared connection', async () => {
    const { pool, create } = setup('shared');
    const a = await on(pool, session('a'));
    const b = await on(pool, session('b'));
    expect(b).toBe(a);
    expect(await on(pool)).toBe(a);
    expect(a.session).toBeUndefined();
    expect(create).toHaveBeenCalledTimes(1);
    expect(pool.stats().sessions).toBe(0);
  });
});

describe('AffinityPool with affinity = "session"', () => {
  it('gives each session a connection of its own and keeps calls without a session on the shared one', async () => {
    const { pool, create } = setup('session');
    const shared = await on(pool);
    const a = await on(pool, session('a'));
    const b = await on(pool, session('b'));
    expect(new Set([shared.id, a.id, b.id]).size).toBe(3);
    expect([shared.session, a.session, b.session]).toEqual([undefined, 'a', 'b']);
    expect(await on(pool, session('a'))).toBe(a);
    expect(create).toHaveBeenCalledTimes(3);
    expect(pool.stats()).toMatchObject({ size: 3, sessions: 2, inflight: 0 });
  });

  it('opens one connection for calls of a new session that arrive together, and counts them in the stats', async () => {
    const { pool, backend, create } = setup('session');
    const ref = session('a');
    const calls = Promise.all([hold(pool, ref), hold(pool, ref), hold(pool, ref)]);
    await backend.untilInflight(3);
    expect(pool.stats()).toMatchObject({ size: 1, active: 1, inflight: 3, sessions: 1 });
    backend.release();
    const connections = await calls;
    expect(new Set(connections).size).toBe(1);
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('refuses a session beyond max_session_connections with POOL_EXHAUSTED and makes no connection for it', async () => {
    const { pool, create } = setup('session', { max_session_connections: 2 });
    await on(pool, session('a'));
    await on(pool, session('b'));
    const error = await on(pool, session('c')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('POOL_EXHAUSTED');
    expect((error as GatewayError).message).toContain('max_session_connections = 2');
    expect(create).toHaveBeenCalledTimes(2);
    expect(pool.stats().sessions).toBe(2);
    // The shared connection is not a session's: it is not capped.
    await on(pool);
    expect(create).toHaveBeenCalledTimes(3);
    // An ended session frees its room.
    await pool.endSession('a');
    await until(() => pool.stats().sessions === 1);
    expect((await on(pool, session('c'))).session).toBe('c');
  });

  it('lets a session that wants a second connection at the cap share its own instead', async () => {
    const { pool, backend, create } = setup('session', { max: 2, max_session_connections: 1 });
    const ref = session('a');
    const first = hold(pool, ref);
    await backend.untilInflight(1);
    // Its connection is busy and max allows a second: the pool tries, the cap says no, the call shares.
    const second = hold(pool, ref);
    await backend.untilInflight(2);
    backend.release();
    expect(await second).toBe(await first);
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('closes a session’s connections when it ends, failing its call in flight, and leaves the others', async () => {
    const { pool, backend } = setup('session');
    const a = session('a');
    const b = session('b');
    const connectionB = await on(pool, b);
    const inflight = hold(pool, a).then(
      () => 'finished',
      (e: unknown) => (e as Error).message,
    );
    await backend.untilInflight(1);
    const connectionA = pool.stats().sessions === 2 ? backend.links.find((l) => l.connection.session === 'a')?.connection : undefined;
    expect(connectionA).toBeDefined();
    a.ended = true;
    await pool.endSession('a');
    expect(await inflight).not.toBe('finished');
    expect(connectionA?.alive).toBe(false);
    expect(backend.linkOf(connectionA as Connection).shutdowns()).toBe(1);
    expect(connectionB.alive).toBe(true);
    expect(pool.stats()).toMatchObject({ sessions: 1, size: 1 });
    // Nothing more is opened for an ended session.
    const late = await on(pool, a).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((late as GatewayError).code).toBe('BACKEND_UNAVAILABLE');
    expect(backend.links.length).toBe(2);
  });

  it('closes a session connection that idles past idle_timeout and lets go of the session', async () => {
    const { pool, backend } = setup('session', { idle_timeout: 1 });
    const connection = await on(pool, session('a'));
    expect(pool.stats().sessions).toBe(1);
    await connection.ended;
    expect(backend.linkOf(connection).shutdowns()).toBe(1);
    await until(() => pool.stats().sessions === 0);
    expect(pool.stats().size).toBe(0);
    // The session comes back: a new connection of its own.
    const again = await on(pool, session('a'));
    expect(again).not.toBe(connection);
    expect(again.session).toBe('a');
  });

  it('closes every session connection on close()', async () => {
    const { pool } = setup('session');
    const connections = [await on(pool), await on(pool, session('a')), await on(pool, session('b'))];
    await pool.close();
    await pool.close();
    expect(connections.map((c) => c.alive)).toEqual([false, false, false]);
    const error = await on(pool, session('c')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as GatewayError).code).toBe('BACKEND_UNAVAILABLE');
  });
});
