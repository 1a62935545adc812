import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #19 item 15: an async call that was running when the gateway died
 * came back saying "The gateway stopped while this call was pending": the
 * running state was never written. It is now (when a connection takes the
 * call), so after a crash a running call says running and a call still
 * waiting for a connection says pending.
 */

afterAll(stopAll);

// One connection carrying one call at a time: a second call waits (pending).
const CONFIG = `${demoBackend()}
pool = { min = 1, max = 1, max_concurrency = 1, acquire_timeout = 600000 }
`;

describe('issue 19: an interrupted call says whether it was running', () => {
  it('after a SIGKILL of the gateway, the running call says running and the waiting one pending', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-19-running-'));
    try {
      const gw = await startGateway(CONFIG, { dir, keep: true });
      await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
      const running = (await gw.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 600_000 } })).body.call_id as string;
      // Progress comes from the backend: the call is running there.
      await eventually(async () => (await gw.request('GET', `/call/${running}`)).body.progress !== undefined);
      const waiting = (await gw.request('POST', '/call/async', { server: 'demo', tool: 'sleep', arguments: { ms: 600_000 } })).body.call_id as string;
      expect((await gw.request('GET', `/call/${waiting}`)).body.status).toBe('pending');
      await gw.stop('SIGKILL');

      const again = await startGateway(CONFIG, { dir, keep: true });
      const first = await again.request('GET', `/call/${running}`);
      expect(first.body).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
      expect((first.body.error as { message: string }).message).toMatch(/while this call was running/);
      expect(first.body.started_at).not.toBeNull();
      const second = await again.request('GET', `/call/${waiting}`);
      expect((second.body.error as { message: string }).message).toMatch(/while this call was pending/);
      expect(second.body.started_at).toBeNull();
      await again.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
