import { afterEach, describe, expect, it, vi } from 'vitest';
import { normalizeBackend } from '../../src/config/load.js';
import { BackendSchema, ConfigSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { Connection } from '../../src/pool/connection.js';
import { Backend, type BackendState } from '../../src/supervisor/backend.js';
import { HealthCheck, type HealthCheckOptions, type Pingable, pingAll } from '../../src/supervisor/health.js';
import { FakeBackend, textOf } from '../helpers/mcp-link.js';

const checks: HealthCheck[] = [];
afterEach(() => {
  for (const c of checks.splice(0)) c.stop();
  vi.useRealTimers();
});

function check(
  probe: HealthCheckOptions['probe'],
  overrides: Partial<HealthCheckOptions> = {},
): { hc: HealthCheck; failures: number[]; successes: () => number } {
  const failures: number[] = [];
  let successes = 0;
  const hc = new HealthCheck({
    intervalMs: 1_000,
    timeoutMs: 100,
    probe,
    onFailure: (n) => failures.push(n),
    onSuccess: () => (successes += 1),
    logger: silentLogger(),
    ...overrides,
  });
  checks.push(hc);
  return { hc, failures, successes: () => successes };
}

describe('HealthCheck', () => {
  it('checks every interval once started, counts failures in a row and resets them on success', async () => {
    vi.useFakeTimers();
    const outcomes = [false, false, true, false];
    const probe = vi.fn(async () => {
      if (outcomes.shift() === false) throw new Error('no answer');
    });
    const { hc, failures, successes } = check(probe);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probe).not.toHaveBeenCalled(); // not started
    hc.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(probe).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(probe).toHaveBeenCalledWith(100);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(probe).toHaveBeenCalledTimes(4);
    expect(failures).toEqual([1, 2, 1]);
    expect(successes()).toBe(1); // the 3rd
  });

  it('never overlaps checks: the next is scheduled when the last settles', async () => {
    vi.useFakeTimers();
    let finish: () => void = () => undefined;
    const probe = vi.fn(() => new Promise<void>((resolve) => (finish = resolve)));
    const { hc } = check(probe);
    hc.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(probe).toHaveBeenCalledTimes(1);
    finish();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(2);
  });

  it('stops for good, ignores a result that arrives after stop(), and restarts with a clean count', async () => {
    vi.useFakeTimers();
    let fail: (error: Error) => void = () => undefined;
    const probe = vi.fn(() => new Promise<void>((_resolve, reject) => (fail = reject)));
    const { hc, failures } = check(probe);
    hc.start();
    await vi.advanceTimersByTimeAsync(1_000);
    hc.stop();
    hc.stop();
    fail(new Error('late'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(failures).toEqual([]);
    expect(probe).toHaveBeenCalledTimes(1);
    expect(hc.active).toBe(false);
    hc.start();
    await vi.advanceTimersByTimeAsync(1_000);
    fail(new Error('counted'));
    await vi.advanceTimersByTimeAsync(0);
    expect(failures).toEqual([1]);
  });

  it('does not keep the process alive: its timer is unref’d', () => {
    const { hc } = check(async () => undefined);
    const spy = vi.spyOn(globalThis, 'setTimeout');
    hc.start();
    const timer = spy.mock.results.at(-1)?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
  });
});

describe('pingAll', () => {
  const target = (alive: boolean, ping: () => Promise<unknown>): Pingable => ({ alive, client: { ping } });

  it('pings every live connection and passes when all answer', async () => {
    const a = vi.fn(async () => ({}));
    const b = vi.fn(async () => ({}));
    const dead = vi.fn(async () => ({}));
    await pingAll([target(true, a), target(true, b), target(false, dead)], 50);
    expect(a).toHaveBeenCalledWith({ timeout: 50 });
    expect(b).toHaveBeenCalledTimes(1);
    expect(dead).not.toHaveBeenCalled();
  });

  it('fails when a live connection does not answer in time, saying so', async () => {
    const slow = vi.fn(() => Promise.reject(new Error('MCP error -32001: Request timed out')));
    await expect(pingAll([target(true, async () => ({})), target(true, slow)], 50)).rejects.toThrow('no answer to ping within 50 ms');
  });

  it('ignores the failure of a connection that ended meanwhile', async () => {
    const conn = { alive: true, client: { ping: async (): Promise<unknown> => Promise.reject(new Error('Connection closed')) } };
    const pinged = pingAll([conn], 50);
    conn.alive = false;
    await expect(pinged).resolves.toBeUndefined();
  });
});

// A backend whose pings can be made to fail: the fake's ping is replaced.
describe('Backend health', () => {
  const raw = ConfigSchema.parse({
    supervisor: { restart_backoff_min: 10, restart_backoff_max: 20, health_interval: 0.05, health_timeout: 50, health_failures: 3 },
    pool: { min: 0, idle_timeout: 0 },
  });
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function setup(entry: Record<string, unknown> = {}): { backend: Backend; fake: FakeBackend; states: BackendState[]; deaf: Set<Connection> } {
    const fake = new FakeBackend();
    const deaf = new Set<Connection>();
    const config = normalizeBackend(BackendSchema.parse({ name: 'fake', command: 'unused', ...entry }), raw, '/tmp', 'file');
    const backend = new Backend({
      config,
      logger: silentLogger(),
      connector: async (_c, _l, hooks) => {
        const { connection } = await fake.link(hooks.setup);
        const ping = connection.client.ping.bind(connection.client);
        connection.client.ping = (options) => (deaf.has(connection) ? Promise.reject(new Error('Request timed out')) : ping(options));
        return connection;
      },
    });
    const states: BackendState[] = [];
    backend.on('state', (s: BackendState) => states.push(s));
    cleanups.push(
      () => fake.closeAll(),
      () => backend.stop(),
    );
    return { backend, fake, states, deaf };
  }

  const until = (backend: Backend, state: BackendState): Promise<void> =>
    new Promise((resolve) => {
      const on = (s: BackendState): void => {
        if (s !== state) return;
        backend.off('state', on);
        resolve();
      };
      backend.on('state', on);
    });

  it('goes degraded on a failed ping, still serves calls, and is running again after a passed one', async () => {
    const { backend, fake, states, deaf } = setup();
    await backend.start();
    const link = fake.links[0]?.connection as Connection;
    deaf.add(link);
    await until(backend, 'degraded');
    expect(backend.info().status).toBe('degraded');
    expect(await backend.use(async (c) => textOf(await c.client.callTool({ name: 'echo', arguments: { text: 'still' } })))).toBe('still');
    deaf.delete(link);
    await until(backend, 'running');
    expect(states).toEqual(['starting', 'running', 'degraded', 'running']);
    expect(backend.info().restarts).toBe(0);
  });

  it('restarts after health_failures failed pings in a row; calls in flight fail as in a crash', async () => {
    const { backend, fake, states, deaf } = setup();
    await backend.start();
    const first = fake.links[0]?.connection as Connection;
    const inFlight = backend
      .use((c) => c.client.callTool({ name: 'hold', arguments: {} }))
      .then(
        () => 'answered',
        (e: unknown) => e,
      );
    await fake.untilInflight(1);
    deaf.add(first);
    const ready = new Promise((resolve) => backend.once('ready', resolve));
    expect(await ready).toEqual({ restarted: true, prepared: undefined });
    expect(await inFlight).toBeInstanceOf(Error);
    expect(await first.ended).toMatchObject({ expected: false, reason: expect.stringContaining('stopped answering health checks (3 failed in a row') });
    expect(states).toEqual(['starting', 'running', 'degraded', 'restarting', 'running']);
    expect(backend.info()).toMatchObject({ status: 'running', restarts: 1, last_error: expect.stringContaining('no answer to ping within 50 ms') });
    expect(fake.links).toHaveLength(2);
  });

  it('does not check a backend with health_check = false', async () => {
    const { backend, fake, states, deaf } = setup({ health_check: false });
    await backend.start();
    deaf.add(fake.links[0]?.connection as Connection);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(states).toEqual(['starting', 'running']);
  });

  it('stops checking when the backend stops', async () => {
    const { backend, fake } = setup();
    await backend.start();
    const link = fake.links[0]?.connection as Connection;
    const ping = vi.spyOn(link.client, 'ping');
    await backend.stop();
    const seen = ping.mock.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ping.mock.calls.length).toBe(seen);
  });
});
