import { afterEach, describe, expect, it } from 'vitest';
import { coordRoutes } from '../../backends/coord/rest.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';

type Json = Record<string, unknown>;

const stores: CoordStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** The claim and thread routes as mounted under /coord, exercised with app.request(). */
function api(): { post(path: string, body: unknown): Promise<{ status: number; body: Json }>; get(path: string): Promise<{ status: number; body: Json }> } {
  const store = openSqliteStore(':memory:');
  stores.push(store);
  const app = coordRoutes(store);
  const parse = async (res: Response): Promise<{ status: number; body: Json }> => ({ status: res.status, body: (await res.json()) as Json });
  return {
    post: async (path, body) => parse(await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })),
    get: async (path) => parse(await app.request(path)),
  };
}

describe('claim and thread REST routes', () => {
  it('validate bodies and queries and answer with the documented codes', async () => {
    const { post, get } = api();
    expect(await post('/claim/announce', { agent_id: 'a', intent: 'x' })).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
    const unknownField = await post('/claim/announce', { agent_id: 'a', paths: ['x.ts'], intent: 'x', colour: 'red' });
    expect(unknownField).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
    expect(String(unknownField.body.error)).toContain("'colour'");
    expect(await post('/claim/announce', { agent_id: 'a', paths: ['/abs.ts'], intent: 'x' })).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
    expect(await post('/claim/renew', { claim_id: 'none', agent_id: 'a' })).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CLAIM' } });
    expect(await get('/thread/get?thread_id=none&agent_id=a')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_THREAD' } });
    expect(await get('/thread/list?limit=zero')).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
    expect(await post('/thread/post', { thread_id: 't', agent_id: 'a', kind: 'shout', content: 'x' })).toMatchObject({
      status: 400,
      body: { code: 'BAD_REQUEST' },
    });
  });

  it('announce, check, list, status and the thread flow answer with the store objects', async () => {
    const { post, get } = api();
    const held = await post('/claim/announce', { agent_id: 'a', paths: ['src/x.ts'], intent: 'Edit x', repo: 'r' });
    expect(held).toMatchObject({ status: 200, body: { verdict: 'clear', claim: { agent_id: 'a', repo: 'r' } } });
    const conflict = await post('/claim/announce', { agent_id: 'b', paths: ['src/x.ts'], intent: 'Edit x too', repo: 'r' });
    expect(conflict.body).toMatchObject({ verdict: 'conflict', score: 100, thread: { status: 'open' } });
    const threadId = (conflict.body.thread as { id: string }).id;
    expect((await post('/claim/check', { paths: ['src/**'], repo: 'r' })).body).toMatchObject({ verdict: 'conflict', score: 100 });
    expect(((await get('/claim/list?repo=r&agent_id=a')).body.claims as unknown[]).length).toBe(1);
    expect((await get('/status?repo=r')).body).toMatchObject({ hot_paths: [{ path: 'src/x.ts', agents: ['a', 'b'] }] });

    await post('/thread/post', { thread_id: threadId, agent_id: 'a', kind: 'proposal', content: 'a first' });
    expect((await post('/thread/contest', { thread_id: threadId, agent_id: 'b', content: 'b first' })).body).toMatchObject({ thread: { status: 'open' } });
    await post('/thread/post', { thread_id: threadId, agent_id: 'b', kind: 'proposal', content: 'b first' });
    expect((await post('/thread/approve', { thread_id: threadId, agent_id: 'a' })).body).toMatchObject({ thread: { status: 'resolved' } });
    expect((await post('/thread/close', { thread_id: threadId, agent_id: 'a', cancel: true })).body).toMatchObject({ thread: { status: 'cancelled' } });
    expect((await get(`/thread/updates?agent_id=b&after=0`)).body).toMatchObject({ agent_id: 'b', has_more: false });
    for (const agent_id of ['a', 'c']) await post('/agent/register', { agent_id, role: 'dev' });
    const opened = await post('/thread/open', { agent_id: 'a', participants: ['c'], subject: 'Docs', repo: 'r' });
    expect(opened).toMatchObject({ status: 200, body: { participants: ['a', 'c'], repo: 'r' } });
  });
});
