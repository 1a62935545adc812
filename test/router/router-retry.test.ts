import type { Tool } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { normalizeBackend } from '../../src/config/load.js';
import { BackendSchema, ConfigSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { CallLog } from '../../src/router/call-log.js';
import { Router } from '../../src/router/router.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { FakeBackend, textOf } from '../helpers/mcp-link.js';

/*
 * The router's retry of a call cut off by a crash, over real MCP links
 * without processes: the fake backend's `hold` blocks until released, and
 * killing its link is a crash. Which tools may be retried is decided by the
 * catalog's annotations, so the catalog is filled by hand.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const object = { type: 'object' as const, properties: {} };

async function setup(options: { annotations?: Tool['annotations']; retry_on_crash?: boolean } = {}) {
  const raw = ConfigSchema.parse({
    // drain_timeout: a stop with a held call in flight waits this long for it, not the default 10 s.
    supervisor: { restart_backoff_min: 10, restart_backoff_max: 20, retry_on_crash: options.retry_on_crash ?? true, health_interval: 0, drain_timeout: 100 },
    pool: { min: 0, idle_timeout: 0, acquire_timeout: 2_000 },
  });
  const fake = new FakeBackend();
  const logger = silentLogger();
  const info = vi.fn();
  logger.info = info;
  const supervisor = new Supervisor({ logger, connector: async (_c, _l, hooks) => (await fake.link(hooks.setup)).connection });
  supervisor.add(normalizeBackend(BackendSchema.parse({ name: 'fake', command: 'unused' }), raw, '/tmp', 'file'));
  const catalog = new Catalog({ separator: '__', ttlSeconds: 300, logger });
  const hold: Tool = { name: 'hold', inputSchema: object, ...(options.annotations ? { annotations: options.annotations } : {}) };
  catalog.set('fake', [hold, { name: 'echo', inputSchema: object }]);
  const callLog = new CallLog(10);
  const router = new Router({ supervisor, catalog, callLog, logger });
  cleanups.push(async () => {
    fake.release();
    await supervisor.stopAll();
    router.drop('fake');
  });
  await supervisor.startAll();
  return { router, fake, callLog, info, supervisor };
}

/** Starts a `hold` call, kills the link it runs on once it is in flight, and lets the next link answer. */
async function crashDuringHold(s: Awaited<ReturnType<typeof setup>>): Promise<unknown> {
  const call = s.router.call({ server: 'fake', tool: 'hold', arguments: {} }).then(
    (outcome) => outcome,
    (err: unknown) => err,
  );
  await s.fake.untilInflight(1);
  await s.fake.links[0]?.kill();
  s.fake.release(); // the gate is open from now on: a retried hold answers
  return call;
}

describe('Router retry after a crash', () => {
  it('retries a read-only call once on the restarted backend, and records it as retried', async () => {
    const s = await setup({ annotations: { readOnlyHint: true } });
    const outcome = await crashDuringHold(s);
    expect(outcome).toMatchObject({ server: 'fake', tool: 'hold' });
    expect(textOf((outcome as { result: unknown }).result)).toBe('released');
    expect(s.fake.links).toHaveLength(2);
    expect(s.callLog.recent()[0]).toMatchObject({ tool: 'hold', status: 'success', retried: true });
    expect(s.info).toHaveBeenCalledWith(expect.objectContaining({ backend: 'fake', tool: 'hold', retried: true }), 'call retried after backend crash');
    expect(s.supervisor.get('fake').info().restarts).toBe(1);
  });

  it('retries an idempotent call too', async () => {
    const s = await setup({ annotations: { idempotentHint: true } });
    expect(await crashDuringHold(s)).toMatchObject({ tool: 'hold' });
  });

  it('does not retry a tool without those hints: the crash is the answer', async () => {
    const s = await setup();
    const err = await crashDuringHold(s);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE', details: { crashed: true }, retryAfter: 1 });
    expect((err as Error).message).toMatch(/Backend 'fake' connection closed during hold/);
    expect(s.callLog.recent()[0]).toMatchObject({ status: 'error', code: 'BACKEND_UNAVAILABLE' });
    expect(s.callLog.recent()[0]?.retried).toBeUndefined();
  });

  it('does not retry when retry_on_crash is off', async () => {
    const s = await setup({ annotations: { readOnlyHint: true }, retry_on_crash: false });
    expect(await crashDuringHold(s)).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(s.info).not.toHaveBeenCalledWith(expect.anything(), 'call retried after backend crash');
  });

  it('does not call a stop of ours a crash: no retry, no crashed flag', async () => {
    const s = await setup({ annotations: { readOnlyHint: true } });
    const call = s.router.call({ server: 'fake', tool: 'hold', arguments: {} }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await s.fake.untilInflight(1);
    await s.supervisor.get('fake').stop();
    const err = await call;
    expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect((err as GatewayError).details?.crashed).toBeUndefined();
  });

  it('retries only once', async () => {
    const s = await setup({ annotations: { readOnlyHint: true } });
    // Every link dies as soon as a call reaches it.
    s.fake.on('enter', () => void s.fake.links.at(-1)?.kill());
    const err = await s.router.call({ server: 'fake', tool: 'hold', arguments: {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE', details: { crashed: true } });
    expect(s.fake.links.length).toBeGreaterThanOrEqual(2);
    expect(s.info.mock.calls.filter((c) => c[1] === 'call retried after backend crash')).toHaveLength(1);
    expect(s.callLog.recent()[0]).toMatchObject({ status: 'error', retried: true });
  });
});
