import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordResult, coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #19 item 3: GET /coord/thread/list and mux_thread_list (and the
 * threads of mux_status and GET /coord/status) showed every thread's subject, participants and proposal to any agent token, while only
 * participants may read a thread (thread/get and the event stream hold to
 * it). An agent token lists only the threads it may read: the ones it takes
 * part in, every thread for a claim admin; admin tokens list them all.
 * Tokens: ann and ben (agents), boss (an agent token, claim admin), ops (admin).
 */

const SECRETS = { ann: 'threads-ann-secret-0001', ben: 'threads-ben-secret-0002', boss: 'threads-boss-secret-0003', ops: 'threads-ops-secret-0004' };
const PRIVATE = 'Who owns the router? (ann and cal only)';
const clients: Client[] = [];
let gw: RunningGateway;
let annThread: string;
let benThread: string;

beforeAll(async () => {
  const tokens = Object.keys(SECRETS)
    .map((name) => `[[auth.tokens]]\nname = "${name}"\ntoken = "\${THREADS_${name.toUpperCase()}}"\n${name === 'ops' ? 'role = "admin"\n' : ''}`)
    .join('\n');
  gw = await startGateway(coordToml({}, `claim_admins = ["boss"]\n[auth]\n${tokens}`), {
    env: Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`THREADS_${name.toUpperCase()}`, secret])),
  });
  await coordReady(gw);
  // Threads are opened only between registered agents (#21 item 6).
  for (const [token, agent_id] of [
    [SECRETS.ann, 'ann'],
    [SECRETS.ben, 'ben'],
    [SECRETS.ops, 'cal'],
  ] as const)
    await ok(token, 'POST', '/coord/agent/register', { agent_id, role: 'dev' });
  annThread = (await ok(SECRETS.ann, 'POST', '/coord/thread/open', { agent_id: 'ann', participants: ['cal'], subject: PRIVATE })).id as string;
  await ok(SECRETS.ann, 'POST', '/coord/thread/post', { thread_id: annThread, agent_id: 'ann', kind: 'proposal', content: 'ann takes the router, private' });
  benThread = (await ok(SECRETS.ben, 'POST', '/coord/thread/open', { agent_id: 'ben', participants: ['ann'], subject: 'The session store' })).id as string;
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

async function call(token: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function ok(token: string, method: 'POST', path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

async function listTool(token: string, args: Record<string, unknown>, tool = 'mux_thread_list'): Promise<CoordResult> {
  const client = new Client({ name: 'threads-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return coordResult(await client.callTool({ name: `coord__${tool}`, arguments: args }));
}

const ids = (body: Record<string, unknown>): string[] => (body.threads as Array<{ id: string }>).map((t) => t.id).sort();

describe('issue 19: thread listings show an agent token only the threads it may read', () => {
  it('GET /coord/thread/list: ben sees his thread, not ann’s; without agent_id it is refused', async () => {
    const refused = await call(SECRETS.ben, '/coord/thread/list');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('FORBIDDEN');
    expect(refused.body.error).toMatch(/agent_id = 'ben'/);
    expect(JSON.stringify(refused.body)).not.toContain(PRIVATE);

    const ben = await call(SECRETS.ben, '/coord/thread/list?agent_id=ben');
    expect(ben.status).toBe(200);
    expect(ids(ben.body)).toEqual([benThread]);
    expect(JSON.stringify(ben.body)).not.toContain(PRIVATE);

    const ann = await call(SECRETS.ann, '/coord/thread/list?agent_id=ann');
    expect(ids(ann.body)).toEqual([annThread, benThread].sort());
  });

  it('mux_thread_list: the same on MCP', async () => {
    const refused = await listTool(SECRETS.ben, {});
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/agent_id = 'ben'/);
    expect(refused.text).not.toContain(PRIVATE);

    const ben = await listTool(SECRETS.ben, { agent_id: 'ben' });
    expect(ben.isError).toBe(false);
    expect(ids(ben.body)).toEqual([benThread]);
    expect(JSON.stringify(ben.body)).not.toContain('ann takes the router');
  });

  it('mux_status and GET /coord/status (which list the threads that have not ended): the same', async () => {
    const refused = await call(SECRETS.ben, '/coord/status');
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatch(/agent_id = 'ben'/);
    const ben = await call(SECRETS.ben, '/coord/status?agent_id=ben');
    expect(ben.status).toBe(200);
    expect(ids(ben.body)).toEqual([benThread]);
    expect(JSON.stringify(ben.body)).not.toContain(PRIVATE);

    const refusedTool = await listTool(SECRETS.ben, {}, 'mux_status');
    expect(refusedTool.isError).toBe(true);
    const benTool = await listTool(SECRETS.ben, { agent_id: 'ben' }, 'mux_status');
    expect(ids(benTool.body)).toEqual([benThread]);

    const boss = await call(SECRETS.boss, '/coord/status?agent_id=boss');
    expect(ids(boss.body)).toEqual([annThread, benThread].sort());
    const ops = await call(SECRETS.ops, '/coord/status');
    expect(ids(ops.body)).toEqual([annThread, benThread].sort());
  });

  it('a claim admin (who may read every thread) and an admin token list them all', async () => {
    const boss = await call(SECRETS.boss, '/coord/thread/list?agent_id=boss');
    expect(ids(boss.body)).toEqual([annThread, benThread].sort());
    const bossTool = await listTool(SECRETS.boss, { agent_id: 'boss' });
    expect(ids(bossTool.body)).toEqual([annThread, benThread].sort());

    const ops = await call(SECRETS.ops, '/coord/thread/list');
    expect(ids(ops.body)).toEqual([annThread, benThread].sort());
    // An admin token's agent_id still narrows to that agent's threads.
    const forBen = await call(SECRETS.ops, '/coord/thread/list?agent_id=ben');
    expect(ids(forBen.body)).toEqual([benThread]);
  });
});
