import { afterAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { startGateway, stopAll } from '../helpers/harness.js';
import { whichFirst } from '../helpers/which-first.js';

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
    await rest(gw, 'POST', '/agent/register', { agent_id: 'reference', role: 'r' });
    const mcpPoll = agent.call('mux_poll', { agent_id: 'patient', timeout: 30 }, { timeout: 60_000 });
    // The REST long poll waits alongside: /coord does not go through the router at all.
    const restPolling = rest(gw, 'GET', '/msg/poll?agent_id=patient-rest&timeout=30');
    // It waited its 30 s, by the server's own timer: a 29 s poll started after it runs out first.
    const reference = rest(gw, 'GET', '/msg/poll?agent_id=reference&timeout=29');
    expect(await whichFirst({ 'mux_poll (30 s)': mcpPoll, 'reference poll (29 s)': reference })).toBe('reference poll (29 s)');
    const [mcp, restPoll] = await Promise.all([mcpPoll, restPolling]);
    expect(mcp.isError, mcp.text).toBe(false);
    expect(mcp.body).toMatchObject({ agent_id: 'patient', messages: [] });
    expect(restPoll).toMatchObject({ messages: [] });
    const log = (await gw.request('GET', '/log?server=coord')).body.calls as { tool: string; status: string }[];
    expect(log.find((c) => c.tool === 'mux_poll')).toMatchObject({ status: 'success' });
  }, 90_000);

  it('a mux_poll longer than a small request_timeout is not cut off by it', async () => {
    const gw = await startGateway(coordToml({}, '[gateway]\nrequest_timeout = 1000\n'));
    await coordReady(gw);
    const agent = await sessions.open(gw.url);
    await agent.ok('mux_register', { agent_id: 'waiter', role: 'r' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'reference', role: 'r' });
    const polling = agent.call('mux_poll', { agent_id: 'waiter', timeout: 3 });
    // It outlived request_timeout (1 s): a 2 s poll started after it runs out first.
    const reference = rest(gw, 'GET', '/msg/poll?agent_id=reference&timeout=2');
    expect(await whichFirst({ 'mux_poll (3 s)': polling, 'reference poll (2 s)': reference })).toBe('reference poll (2 s)');
    const polled = await polling;
    expect(polled.isError, polled.text).toBe(false);
    expect(polled.body.messages).toEqual([]);
  });

  // Completion is the check on the cap: uncapped, the 30 s poll could not
  // finish within this test's 20 s.
  it('poll_timeout_max caps the wait, and the backend timeout follows it', async () => {
    const gw = await startGateway(coordToml({ poll_timeout_max: 2 }, '[gateway]\nrequest_timeout = 1000\n'));
    await coordReady(gw);
    const agent = await sessions.open(gw.url);
    await agent.ok('mux_register', { agent_id: 'capped', role: 'r' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'reference', role: 'r' });
    const polling = agent.call('mux_poll', { agent_id: 'capped', timeout: 30 });
    // It waited past request_timeout (1 s), up to the cap: a 1 s poll started after it runs out first.
    const reference = rest(gw, 'GET', '/msg/poll?agent_id=reference&timeout=1');
    expect(await whichFirst({ 'mux_poll (capped at 2 s)': polling, 'reference poll (1 s)': reference })).toBe('reference poll (1 s)');
    const polled = await polling;
    expect(polled.isError, polled.text).toBe(false);
  }, 20_000);
});
