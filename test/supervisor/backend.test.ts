import { once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { normalizeBackend } from '../../src/config/load.js';
import { type BackendConfig, BackendSchema, ConfigSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { Connection } from '../../src/pool/connection.js';
import { Backend, type BackendState } from '../../src/supervisor/backend.js';
import type { Connector } from '../../src/supervisor/transport.js';
import { FakeBackend, textOf } from '../helpers/mcp-link.js';

// Fast restarts: 10 ms backoff, a crash loop after more than 2 failures in a minute.
const raw = ConfigSchema.parse({
  supervisor: { restart_backoff_min: 10, restart_backoff_max: 40, crash_loop_restarts: 2, crash_loop_window: 60 },
  pool: { min: 0, idle_timeout: 0, acquire_timeout: 2_000 },
});

function config(entry: Record<string, unknown> = {}): BackendConfig {
  return normalizeBackend(BackendSchema.parse({ name: 'fake', command: 'unused', ...entry }), raw, '/tmp', 'file');
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  backend: Backend;
  fake: FakeBackend;
  connector: ReturnType<typeof vi.fn<Connector>>;
  states: BackendState[];
}

function setup(options: { entry?: Record<string, unknown>; connector?: Connector; prepare?: (c: Connection) => Promise<unknown> } = {}): Setup {
  const fake = new FakeBackend();
  const connector = vi.fn<Connector>(options.connector ?? (async (_config, _logger, hooks) => (await fake.link(hooks.setup)).connection));
  const backend = new Backend({ config: config(options.entry), logger: silentLogger(), connector, prepare: options.prepare });
  const states: BackendState[] = [];
  backend.on('state', (next: BackendState) => states.push(next));
  cleanups.push(
    () => fake.closeAll(),
    () => backend.stop(),
  );
  return { backend, fake, connector, states };
}

function untilState(backend: Backend, state: BackendState): Promise<void> {
  if (backend.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (next: BackendState): void => {
      if (next !== state) return;
      backend.off('state', on);
      resolve();
    };
    backend.on('state', on);
  });
}

async function useError(backend: Backend): Promise<GatewayError> {
  const err = await backend
    .use(async () => 'ran')
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(GatewayError);
  expect((err as GatewayError).code).toBe('BACKEND_UNAVAILABLE');
  return err as GatewayError;
}

function echo(backend: Backend, text: string): Promise<string> {
  return backend.use(async (c) => textOf(await c.client.callTool({ name: 'echo', arguments: { text } })));
}

describe('Backend start', () => {
  it('runs after start, and ready carries what prepare returned', async () => {
    const prepare = vi.fn(async (c: Connection) => ({ tools: (await c.client.listTools()).tools.map((t) => t.name) }));
    const { backend, fake, connector, states } = setup({ prepare });
    const ready = once(backend, 'ready');
    await backend.start();
    expect(await ready).toEqual([{ restarted: false, prepared: { tools: ['echo', 'slow', 'hold'] } }]);
    expect(states).toEqual(['starting', 'running']);
    expect(prepare).toHaveBeenCalledWith(fake.links[0]?.connection, backend.config);
    expect(await backend.use(async (c) => c)).toBe(fake.links[0]?.connection);
    expect(await echo(backend, 'hi')).toBe('hi');
    expect(connector).toHaveBeenCalledTimes(1);
    expect(backend.info()).toMatchObject({ name: 'fake', status: 'running', restarts: 0, last_error: null, origin: 'file' });
  });

  it('forwards tools/list_changed from the backend as tools_changed', async () => {
    const { backend, fake } = setup();
    await backend.start();
    const changed = once(backend, 'tools_changed');
    fake.links[0]?.server.sendToolListChanged();
    await changed;
  });

  it('retries when prepare fails, and says the tool listing failed', async () => {
    let first = true;
    const prepare = async (): Promise<string> => {
      if (first) {
        first = false;
        throw new Error('tools/list timed out');
      }
      return 'listed';
    };
    const { backend, states } = setup({ prepare });
    const ready = once(backend, 'ready');
    await backend.start();
    // A retry before the backend ever ran is not a restart.
    expect(await ready).toEqual([{ restarted: false, prepared: 'listed' }]);
    expect(backend.info().restarts).toBe(0);
    expect(states).toEqual(['starting', 'restarting', 'running']);
  });
});

describe('Backend crash recovery', () => {
  it('restarts after the connection ends unexpectedly', async () => {
    const { backend, fake, connector, states } = setup();
    await backend.start();
    const ready = once(backend, 'ready');
    await fake.links[0]?.kill();
    expect(await ready).toEqual([{ restarted: true, prepared: undefined }]);
    expect(states).toEqual(['starting', 'running', 'restarting', 'running']);
    expect(backend.info().restarts).toBe(1);
    expect(connector).toHaveBeenCalledTimes(2);
    expect(await backend.use(async (c) => c)).toBe(fake.links[1]?.connection);
    expect(await echo(backend, 'again')).toBe('again');
  });

  it('lets a call made while restarting wait for the new connection', async () => {
    const { backend, fake } = setup();
    await backend.start();
    const restarting = untilState(backend, 'restarting');
    await fake.links[0]?.kill();
    await restarting;
    expect(await echo(backend, 'patient')).toBe('patient');
  });

  it('fails once crash_loop_restarts crashes happen within the window, and use() names the reason', async () => {
    const { backend, fake, connector, states } = setup();
    backend.on('ready', () => void fake.links.at(-1)?.kill());
    const failed = untilState(backend, 'failed');
    await backend.start();
    await failed;
    expect(connector).toHaveBeenCalledTimes(2);
    expect(states).toEqual(['starting', 'running', 'restarting', 'running', 'failed']);
    const err = await useError(backend);
    expect(err.message).toContain('has failed');
    expect(err.message).toContain('connection closed');
    expect(err.message).toContain('gave up after 2 failures');
    expect(backend.info()).toMatchObject({ status: 'failed', restarts: 1 });
    expect(backend.info().last_error).toContain('gave up');
  });

  it('gives up on a connector that keeps failing, and start() rejects with why', async () => {
    const connector: Connector = () => Promise.reject(new GatewayError('BACKEND_UNAVAILABLE', "Backend 'fake' failed to initialize: exited with code 1"));
    const { backend, states, connector: spy } = setup({ connector });
    await expect(backend.start()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('exited with code 1') });
    expect(spy).toHaveBeenCalledTimes(2);
    expect(states).toEqual(['starting', 'restarting', 'failed']);
  });

  it('fails at once, without retrying, when the connector says the failure is permanent', async () => {
    const connector: Connector = () =>
      Promise.reject(new GatewayError('BACKEND_UNAVAILABLE', "Backend 'fake' could not start: command 'nope' not found", { details: { permanent: true } }));
    const { backend, states, connector: spy } = setup({ connector });
    await expect(backend.start()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(spy).toHaveBeenCalledTimes(1);
    expect(states).toEqual(['starting', 'failed']);
    expect((await useError(backend)).message).toContain("command 'nope' not found");
  });

  it('fails after the first crash when auto_restart is off', async () => {
    const { backend, fake, connector } = setup({ entry: { auto_restart: false } });
    await backend.start();
    const failed = untilState(backend, 'failed');
    await fake.links[0]?.kill();
    await failed;
    expect(connector).toHaveBeenCalledTimes(1);
    expect((await useError(backend)).message).toContain('auto_restart is off');
  });
});

describe('Backend stop', () => {
  it('stops its connections, does not restart them, and refuses calls', async () => {
    const { backend, fake, connector, states } = setup();
    await backend.start();
    await backend.stop();
    await backend.stop();
    expect(backend.state).toBe('stopped');
    expect(states).toEqual(['starting', 'running', 'stopped']);
    expect(fake.links[0]?.shutdowns()).toBeGreaterThanOrEqual(1);
    expect(fake.links[0]?.connection.alive).toBe(false);
    const err = await useError(backend);
    expect(err.message).toContain('stopped');
    expect(connector).toHaveBeenCalledTimes(1);
    expect(backend.info()).toMatchObject({ status: 'stopped', uptime_seconds: 0, pool: { size: 0 } });
  });

  it('rejects a pending start when stopped', async () => {
    const connector: Connector = () => new Promise<Connection>(() => undefined);
    const { backend } = setup({ connector });
    const starting = backend.start();
    await backend.stop();
    await expect(starting).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('stopped') });
  });

  it('starts again after a stop', async () => {
    const { backend, connector } = setup();
    await backend.start();
    await backend.restart();
    expect(backend.state).toBe('running');
    expect(connector).toHaveBeenCalledTimes(2);
    expect(await echo(backend, 'back')).toBe('back');
  });
});

describe('Backend growing its pool', () => {
  // A long backoff, so that "not before the backoff" is visible.
  const slowRaw = ConfigSchema.parse({
    supervisor: { restart_backoff_min: 5_000, restart_backoff_max: 10_000 },
    pool: { min: 0, max: 2, idle_timeout: 0, acquire_timeout: 60_000 },
  });

  it('shares the live connection when an extra one fails to start, and tries again only after the restart backoff', async () => {
    const fake = new FakeBackend();
    let made = 0;
    const connector = vi.fn<Connector>(async (_config, _logger, hooks) => {
      made += 1;
      if (made > 1) throw new GatewayError('BACKEND_UNAVAILABLE', "Backend 'fake' failed to initialize: port in use");
      return (await fake.link(hooks.setup)).connection;
    });
    const config = normalizeBackend(BackendSchema.parse({ name: 'fake', command: 'unused' }), slowRaw, '/tmp', 'file');
    const backend = new Backend({ config, logger: silentLogger(), connector });
    cleanups.push(
      () => fake.closeAll(),
      () => backend.stop(),
    );
    await backend.start();
    const hold = (): Promise<number> =>
      backend.use(async (c) => {
        await c.client.callTool({ name: 'hold', arguments: {} });
        return c.id;
      });
    const calls = [hold()];
    await fake.untilInflight(1);
    calls.push(hold()); // wants a second connection: the connector fails, the call shares
    await fake.untilInflight(2);
    expect(connector).toHaveBeenCalledTimes(2);
    calls.push(hold(), hold()); // within the backoff: no new attempt
    await fake.untilInflight(4);
    expect(connector).toHaveBeenCalledTimes(2);
    fake.release();
    expect(new Set(await Promise.all(calls)).size).toBe(1);
    expect(backend.state).toBe('running');
  });
});
