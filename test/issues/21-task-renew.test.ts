import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CoordSession, coordReady, coordResult, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { eventually, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #21 item 5: a task whose work ran longer than task_claim_timeout
 * lost its lease, and its finished result was refused with 409; nothing
 * could extend a lease. Now mux_task_renew / POST /coord/task/renew (and a
 * heartbeat that names the task) extends it, for the claimer with the
 * current epoch only. The lease here is 1 s; the work takes about 3 s.
 * The sleeps are the work itself (the time a build takes), not waits for
 * an event.
 */

const LEASE = 1;
const sessions = new SessionSet();
const dir = mkdtempSync(join(tmpdir(), 'coord-renew-'));
let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(coordToml({ task_claim_timeout: LEASE, stale_threshold: 3600 }));
  await coordReady(gw);
});
afterEach(() => sessions.closeAll());
afterAll(async () => {
  await stopAll();
  await stopCoords();
  rmSync(dir, { recursive: true, force: true });
});

/** Works for three leases, calling `renew` at a third of the lease. */
async function longWork(renew: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < 3 * LEASE * 1000) {
    await sleep((LEASE * 1000) / 3);
    await renew();
  }
}

/** Registers the worker and a poster in `channel`, posts a task and has the worker claim it; returns the task id and the lease epoch. */
async function claimed(channel: string, worker: string): Promise<{ taskId: string; epoch: number }> {
  await rest(gw, 'POST', '/agent/register', { agent_id: worker, role: 'builder', channel });
  await rest(gw, 'POST', '/agent/register', { agent_id: `${worker}-rival`, role: 'builder', channel });
  const task = await rest(gw, 'POST', '/task/post', { description: 'a long build', posted_by: `${worker}-rival`, channel });
  const { lease } = (await rest(gw, 'POST', '/task/claim', { agent_id: worker, channel })) as { lease: { task_id: string; epoch: number } };
  expect(lease.task_id).toBe(task.id);
  return { taskId: lease.task_id, epoch: lease.epoch };
}

async function requeued(taskId: string, channel: string): Promise<boolean> {
  const page = await rest(gw, 'GET', `/task/list?channel=${channel}&status=pending`);
  return (page.tasks as Array<{ id: string }>).some((t) => t.id === taskId);
}

describe('issue 21: a task lease can be renewed', () => {
  it('MCP: renewing with mux_task_renew keeps a task past task_claim_timeout and its result is accepted', async () => {
    const agent: CoordSession = await sessions.open(gw.url, 'builder');
    const { taskId, epoch } = await claimed('renew-mcp', 'builder-mcp');
    let expires = '';
    await longWork(async () => {
      const renewed = await agent.ok('mux_task_renew', { task_id: taskId, agent_id: 'builder-mcp', epoch });
      expect(renewed.lease).toMatchObject({ task_id: taskId, epoch });
      const next = (renewed.lease as { expires_at: string }).expires_at;
      expect(next > expires).toBe(true);
      expires = next;
    });
    // The rival finds nothing to claim: the task never went back to the queue.
    expect((await agent.ok('mux_task_claim', { agent_id: 'builder-mcp-rival', channel: 'renew-mcp' })).task).toBeNull();
    const done = await agent.ok('mux_task_complete', { task_id: taskId, agent_id: 'builder-mcp', epoch, result: 'built' });
    expect(done).toMatchObject({ status: 'complete', attempts: 0 });
  });

  it('REST: a heartbeat that names the task renews it, and the result is accepted', async () => {
    const { taskId, epoch } = await claimed('renew-rest', 'builder-rest');
    await longWork(async () => {
      const beat = await rest(gw, 'POST', '/agent/heartbeat', { agent_id: 'builder-rest', task_id: taskId, epoch });
      expect(beat).toMatchObject({ agent: { id: 'builder-rest', status: 'active' }, lease: { task_id: taskId, epoch } });
    });
    const done = await gw.request('POST', '/coord/task/complete', { task_id: taskId, agent_id: 'builder-rest', epoch, result: 'built' });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'complete', attempts: 0 });
    // POST /coord/task/renew is the same operation.
    const { taskId: second, epoch: e2 } = await claimed('renew-rest-2', 'builder-rest-2');
    expect(await rest(gw, 'POST', '/task/renew', { task_id: second, agent_id: 'builder-rest-2', epoch: e2 })).toMatchObject({
      lease: { task_id: second, epoch: e2 },
    });
  });

  it('without renewing the lease lapses as before: the renewal and the result are refused with 409 on REST and MCP', async () => {
    const agent = await sessions.open(gw.url, 'lapsed');
    const { taskId, epoch } = await claimed('lapse', 'builder-lapse');
    await eventually(() => requeued(taskId, 'lapse'));
    const renew = await gw.request('POST', '/coord/task/renew', { task_id: taskId, agent_id: 'builder-lapse', epoch });
    expect(renew.status).toBe(409);
    expect(renew.body).toMatchObject({ code: 'CONFLICT' });
    expect(renew.body.error).toMatch(/not claimed .*cannot be renewed/);
    const viaMcp = await agent.call('mux_task_renew', { task_id: taskId, agent_id: 'builder-lapse', epoch });
    expect(viaMcp.isError).toBe(true);
    expect(viaMcp.text.split('\n')[0]).toBe(`CONFLICT: ${String(renew.body.error)}`); // then the details as JSON
    const complete = await gw.request('POST', '/coord/task/complete', { task_id: taskId, agent_id: 'builder-lapse', epoch });
    expect(complete.status).toBe(409);
  });

  it('only the claimer with the current epoch renews; a heartbeat with task_id needs the epoch (same refusal on REST and MCP)', async () => {
    const agent = await sessions.open(gw.url, 'holder-check');
    const { taskId, epoch } = await claimed('holder', 'holder-a');
    const other = await gw.request('POST', '/coord/task/renew', { task_id: taskId, agent_id: 'holder-a-rival', epoch });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatch(/claimed by 'holder-a', not 'holder-a-rival'/);
    const stale = await agent.call('mux_task_renew', { task_id: taskId, agent_id: 'holder-a', epoch: epoch + 1 });
    expect(stale.text).toMatch(/^CONFLICT: Lease epoch .* is stale/);

    const rest400 = await gw.request('POST', '/coord/agent/heartbeat', { agent_id: 'holder-a', task_id: taskId });
    expect(rest400.status).toBe(400);
    expect(rest400.body).toMatchObject({ code: 'BAD_REQUEST' });
    expect(rest400.body.error).toMatch(/'epoch': required with task_id/);
    const mcp400 = await agent.call('mux_heartbeat', { agent_id: 'holder-a', task_id: taskId });
    expect(mcp400.text).toBe(`BAD_REQUEST: ${String(rest400.body.error)}`);
    const noEpoch = await gw.request('POST', '/coord/task/renew', { task_id: taskId, agent_id: 'holder-a' });
    expect(noEpoch.status).toBe(400);
    expect(noEpoch.body.error).toMatch(/'epoch' is required/);
  });

  it('the standalone server renews over MCP and REST alike', async () => {
    const coord = await startCoord(join(dir, 'standalone.db'), ['--opt', `task_claim_timeout=${LEASE}`]);
    await coord.post('/agent/register', { agent_id: 'solo', role: 'builder' });
    const task = (await coord.post('/task/post', { description: 'solo build', posted_by: 'solo' })).body;
    const { lease } = (await coord.post('/task/claim', { agent_id: 'solo' })).body as { lease: { epoch: number } };
    const client = new Client({ name: 'renew-standalone', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${coord.url}/mcp`)));
    try {
      await longWork(async () => {
        const viaMcp = coordResult(await client.callTool({ name: 'mux_task_renew', arguments: { task_id: task.id, agent_id: 'solo', epoch: lease.epoch } }));
        expect(viaMcp.isError, viaMcp.text).toBe(false);
        expect((await coord.post('/task/renew', { task_id: task.id, agent_id: 'solo', epoch: lease.epoch })).status).toBe(200);
      });
      const done = await coord.post('/task/complete', { task_id: task.id, agent_id: 'solo', epoch: lease.epoch });
      expect(done).toMatchObject({ status: 200, body: { status: 'complete' } });
    } finally {
      await client.close();
    }
  });
});

describe('issue 21: POST /coord/task/renew under the gateway’s security rules', () => {
  const SECRETS = { ann: 'renew-ann-secret-0001', ben: 'renew-ben-secret-0002' };
  let secured: RunningGateway;

  beforeAll(async () => {
    const tokens = Object.keys(SECRETS)
      .map((name) => `[[auth.tokens]]\nname = "${name}"\ntoken = "\${RENEW_${name.toUpperCase()}}"\n`)
      .join('\n');
    secured = await startGateway(coordToml({ task_claim_timeout: 60 }, `[auth]\n${tokens}`), {
      env: Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`RENEW_${name.toUpperCase()}`, secret])),
    });
    await coordReady(secured);
  });

  const post = async (
    token: string | undefined,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${secured.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('needs a token, acts only as the token’s agent, and keeps the Origin check', async () => {
    await post(SECRETS.ann, '/coord/agent/register', { agent_id: 'ann', role: 'builder' });
    await post(SECRETS.ann, '/coord/task/post', { description: 'guarded', posted_by: 'ann' });
    const { lease } = (await post(SECRETS.ann, '/coord/task/claim', { agent_id: 'ann' })).body as { lease: { task_id: string; epoch: number } };
    const args = { task_id: lease.task_id, agent_id: 'ann', epoch: lease.epoch };

    expect((await post(undefined, '/coord/task/renew', args)).status).toBe(401);
    const asAnn = await post(SECRETS.ben, '/coord/task/renew', args);
    expect(asAnn.status).toBe(403);
    expect(await post(SECRETS.ann, '/coord/task/renew', args, { origin: 'https://evil.example' })).toMatchObject({ status: 403 });
    expect(await post(SECRETS.ann, '/coord/task/renew', args)).toMatchObject({ status: 200, body: { lease: { task_id: lease.task_id } } });
    const beat = await post(SECRETS.ben, '/coord/agent/heartbeat', { ...args, agent_id: 'ann' });
    expect(beat.status).toBe(403);
  });
});
