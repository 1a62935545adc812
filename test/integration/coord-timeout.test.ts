import { afterAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { startGateway, stopAll } from '../helpers/harness.js';

/*
 * Long polls hold a call open for up to poll_timeout_max seconds. The
 * built-in coord backend's call timeout is poll_timeout_max + 30 s, not
 * [gateway] request_timeout (30 s by default), so a 30-second mux_poll
 * through /mcp ends with its own empty answer, never with TIMEOUT.
 */

const sessions = new SessionSet();
afterAll(async () => {
  await sessions.closeAll();
  await stopAll();
});

describe.concurrent('long-poll timeouts through the gateway', () => {
  it('a 30 s mux_poll over /mcp with the default request_timeout (30 s) answers empty after 30 s, not TIMEOUT', async () => {
    const gw = await startGateway(coordToml());
    await coordReady(gw);
    const agent = await sessions.open(gw.url);
    await agent.ok('mux_register', { agent_id: 'patient', role: 'r' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'patient-rest', role: 'r' });
    const started = performance.now();
    // The REST long poll waits alongside: /coord does not go through the router at all.
    const [mcp, restPoll] = await Promise.all([
      agent.call('mux_poll', { agent_id: 'patient', timeout: 30 }, { timeout: 60_000 }),
      rest(gw, 'GET', '/msg/poll?agent_id=patient-rest&timeout=30'),
    ]);
    const seconds = (performance.now() - started) / 1000;
    expect(mcp.isError, mcp.text).toBe(false);
    expect(mcp.body).toMatchObject({ agent_id: 'patient', messages: [] });
    expect(restPoll).toMatchObject({ messages: [] });
    expect(seconds).toBeGreaterThanOrEqual(29.5);
    const log = (await gw.request('GET', '/log?server=coord')).body.calls as { tool: string; status: string }[];
    expect(log.find((c) => c.tool === 'mux_poll')).toMatchObject({ status: 'success' });
  }, 90_000);

  it('a mux_poll longer than a small request_timeout is not cut off by it', async () => {
    const gw = await startGateway(coordToml({}, '[gateway]\nrequest_timeout = 1000\n'));
    await coordReady(gw);
    const agent = await sessions.open(gw.url);
    await agent.ok('mux_register', { agent_id: 'waiter', role: 'r' });
    const started = performance.now();
    const polled = await agent.call('mux_poll', { agent_id: 'waiter', timeout: 3 });
    expect(polled.isError, polled.text).toBe(false);
    expect(polled.body.messages).toEqual([]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(2_900);
  });

  it('poll_timeout_max caps the wait, and the backend timeout follows it', async () => {
    const gw = await startGateway(coordToml({ poll_timeout_max: 2 }, '[gateway]\nrequest_timeout = 1000\n'));
    await coordReady(gw);
    const agent = await sessions.open(gw.url);
    await agent.ok('mux_register', { agent_id: 'capped', role: 'r' });
    const started = performance.now();
    const polled = await agent.call('mux_poll', { agent_id: 'capped', timeout: 30 });
    const elapsed = performance.now() - started;
    expect(polled.isError, polled.text).toBe(false);
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(20_000);
  });
});
