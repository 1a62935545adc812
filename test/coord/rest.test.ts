import type { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import type { CoordOptionsInput } from '../../backends/coord/options.js';
import { coordRoutes } from '../../backends/coord/rest.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import { eventsOf, readSse } from '../helpers/sse.js';
import { whichFirst } from '../helpers/which-first.js';

type Json = Record<string, unknown>;

interface Api {
  app: Hono;
  store: CoordStore;
  post(path: string, body: unknown): Promise<{ status: number; body: Json }>;
  get(path: string): Promise<{ status: number; body: Json }>;
}

const stores: CoordStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** The routes as the gateway mounts them, exercised with app.request() (paths without /coord). */
function api(options: CoordOptionsInput = {}): Api {
  const store = openSqliteStore(':memory:', options);
  stores.push(store);
  const app = coordRoutes(store, options);
  const parse = async (res: Response): Promise<{ status: number; body: Json }> => ({ status: res.status, body: (await res.json()) as Json });
  return {
    app,
    store,
    post: async (path, body) =>
      parse(
        await app.request(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        }),
      ),
    get: async (path) => parse(await app.request(path)),
  };
}

describe('coord REST routes', () => {
  it('serves the stonemux quick start with the reference request and response shapes', async () => {
    const { post, get } = api();
    expect(
      (await post('/agent/register', { agent_id: 'researcher', role: 'research', capabilities: ['web-search', 'analysis'], channel: 'default' })).status,
    ).toBe(200);
    await post('/agent/register', { agent_id: 'writer', role: 'writing', capabilities: ['content-creation'], channel: 'default' });
    const sent = await post('/msg/send', { from: 'researcher', to: 'writer', content: 'Analysis complete. Top 3 competitors identified.' });
    expect(sent.status).toBe(200);
    const poll = await get('/msg/poll?agent_id=writer&timeout=5');
    expect(poll.body.messages).toEqual([
      expect.objectContaining({
        id: sent.body.id,
        from: 'researcher',
        to: 'writer',
        content: 'Analysis complete. Top 3 competitors identified.',
        channel: 'default',
      }),
    ]);
    expect(poll.body.next_cursor).toBe(sent.body.id);

    const task = await post('/task/post', {
      description: 'Draft competitive analysis report',
      posted_by: 'researcher',
      required_capability: 'content-creation',
      priority: 5,
    });
    const claim = await post('/task/claim', { agent_id: 'writer' });
    expect(claim.body.task).toMatchObject({ id: task.body.id, status: 'claimed', claimed_by: 'writer' });
    const done = await post('/task/complete', { task_id: task.body.id, agent_id: 'writer', result: 'Report drafted. 3 pages, executive summary included.' });
    expect(done.body).toMatchObject({ status: 'complete' });

    const discover = await get('/agent/discover?role=research&include_stale=false');
    expect((discover.body.agents as Json[]).map((a) => a.id)).toEqual(['researcher']);
    expect((await get('/task/list?status=complete&channel=default')).body.tasks).toHaveLength(1);
    expect((await get('/stats')).body).toMatchObject({ agents: { total: 2 }, messages: { total: 1 }, tasks: { complete: 1 } });
    expect((await get('/health')).body).toMatchObject({ status: 'ok', store: 'sqlite' });
    expect((await get('/msg/history?agent_id=writer&with_agent=researcher')).body).toMatchObject({ mode: 'dm' });
    expect((await post('/agent/heartbeat', { agent_id: 'writer' })).body).toMatchObject({ agent: { id: 'writer' } });
    expect((await post('/agent/deregister', { agent_id: 'writer' })).body).toMatchObject({ deregistered: true });
  });

  it('answers errors as {error, code} with 400, 404, 409 and 413', async () => {
    const { post, get } = api({ max_message_size: 100 });
    const notJson = await post('/agent/register', 'not json');
    expect(notJson).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
    const missing = await post('/agent/register', { agent_id: 'a' });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/'role' is required/);
    const typo = await post('/msg/send', { from: 'a', to: 'b', content: 'x', chanel: 'ops' });
    expect(typo.body.error).toMatch(/unknown field\(s\) 'chanel'/);
    expect(await get('/msg/poll?agent_id=a&timeout=soon')).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });

    expect(await post('/msg/send', { from: 'a', to: 'b', content: 'x' })).toMatchObject({ status: 404, body: { code: 'UNKNOWN_AGENT' } });
    expect(await post('/task/complete', { task_id: 'nope', agent_id: 'a' })).toMatchObject({ status: 404, body: { code: 'UNKNOWN_TASK' } });
    expect(await get('/no/such/route')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });

    await post('/agent/register', { agent_id: 'a', role: 'r' });
    const big = await post('/msg/send', { from: 'a', to: 'a', content: 'x'.repeat(101) });
    expect(big).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(big.body.error).toMatch(/101 bytes; the limit is 100 bytes/);
  });

  it('refuses a body over the route limit with 413, by Content-Length up front and by counting when there is none', async () => {
    const { app } = api({ max_message_size: 100, max_value_size: 100 });
    const limit = 100 * 2 + 65_536;
    const body = JSON.stringify({ from: 'a', to: 'b', content: 'x'.repeat(limit) });
    const declared = await app.request('/msg/send', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      body,
    });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: `Request body is over ${limit} bytes; send less.`, code: 'PAYLOAD_TOO_LARGE' });
    const bytes = new TextEncoder().encode(body);
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.subarray(i, i + 4096));
        controller.close();
      },
    });
    const chunked = await app.request('/msg/send', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: streamed,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    // Under the limit, a declared length passes to the route (which refuses the unknown sender).
    const small = JSON.stringify({ from: 'a', to: 'b', content: 'x' });
    const ok = await app.request('/msg/send', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(small.length) },
      body: small,
    });
    expect(await ok.json()).toMatchObject({ code: 'UNKNOWN_AGENT' });
  });

  it('answers a CAS conflict with 409 carrying the current version and value', async () => {
    const { post, get } = api();
    await post('/state/set', { key: 'deployment-status', value: 'in-progress', channel: 'ops', updated_by: 'deploy-agent' });
    await post('/state/set', { key: 'deployment-status', value: 'verifying', channel: 'ops', expected_version: 1 });
    const conflict = await post('/state/set', { key: 'deployment-status', value: 'complete', channel: 'ops', expected_version: 1 });
    expect(conflict.status).toBe(409);
    expect(conflict.body).toMatchObject({ code: 'CONFLICT', current_version: 2, current_value: 'verifying' });
    const state = await get('/state/get?key=deployment-status&channel=ops');
    expect(state.body).toMatchObject({ key: 'deployment-status', value: 'verifying', version: 2 });
    const retry = await post('/state/set', { key: 'deployment-status', value: 'complete', channel: 'ops', expected_version: 2 });
    expect(retry.body.version).toBe(3);
    const watched = await get('/state/watch?key=deployment-status&channel=ops&after_version=2&timeout=1');
    expect(watched.body).toMatchObject({ changed: true, value: 'complete' });
  });

  it('long-polls /msg/poll until a message arrives', async () => {
    const { post, get } = api();
    await post('/agent/register', { agent_id: 'a', role: 'r' });
    await post('/agent/register', { agent_id: 'b', role: 'r' });
    await post('/agent/register', { agent_id: 'idle', role: 'r' });
    const polling = get('/msg/poll?agent_id=b&timeout=20');
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Woken by the send, not by its own timeout: it answers before a poll
    // nobody sends to, started after it with a shorter timeout, runs out.
    const idle = get('/msg/poll?agent_id=idle&timeout=5');
    await post('/msg/send', { from: 'a', to: 'b', content: 'now' });
    expect(await whichFirst({ woken: polling, 'idle poll ran out': idle })).toBe('woken');
    const { body } = await polling;
    expect((body.messages as Json[]).map((m) => m.content)).toEqual(['now']);
    await post('/msg/send', { from: 'a', to: 'idle', content: 'done' });
    await idle;
  });

  it('gives 20 tasks to 50 simultaneous HTTP claimers exactly once each', async () => {
    const { post } = api();
    const agents = Array.from({ length: 50 }, (_, i) => `w${i}`);
    await Promise.all(agents.map((agent_id) => post('/agent/register', { agent_id, role: 'worker', capabilities: ['build'] })));
    await post('/agent/register', { agent_id: 'lead', role: 'lead' });
    for (let i = 0; i < 20; i++) await post('/task/post', { description: `job ${i}`, posted_by: 'lead', required_capability: 'build', priority: i % 4 });
    const claims = await Promise.all(agents.map((agent_id) => post('/task/claim', { agent_id })));
    const ids = claims.flatMap((c) => (c.body.task === null ? [] : [(c.body.task as Json).id as string]));
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });

  it('re-queues a lapsed claim (short task_claim_timeout) and refuses the old epoch with 409', async () => {
    const { post, get } = api({ task_claim_timeout: 0.2 });
    await post('/agent/register', { agent_id: 'slow', role: 'r' });
    await post('/agent/register', { agent_id: 'fast', role: 'r' });
    await post('/agent/register', { agent_id: 'p', role: 'r' });
    const task = await post('/task/post', { description: 'x', posted_by: 'p' });
    const first = await post('/task/claim', { agent_id: 'slow' });
    const oldEpoch = (first.body.lease as Json).epoch;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await get('/task/list?status=pending')).body.tasks).toEqual([expect.objectContaining({ id: task.body.id, attempts: 1 })]);
    const second = await post('/task/claim', { agent_id: 'fast' });
    expect(second.body.lease).toMatchObject({ epoch: 2 });
    const late = await post('/task/complete', { task_id: task.body.id, agent_id: 'slow', epoch: oldEpoch });
    expect(late).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
    expect((await post('/task/complete', { task_id: task.body.id, agent_id: 'fast', epoch: 2 })).status).toBe(200);
  });

  it('keeps channels isolated over REST', async () => {
    const { post, get } = api();
    await post('/channel/create', { name: 'auth-service', created_by: 'orchestrator' });
    await post('/channel/create', { name: 'payment-service', created_by: 'orchestrator' });
    await post('/agent/register', { agent_id: 'auth-monitor', role: 'monitor', channel: 'auth-service' });
    await post('/agent/register', { agent_id: 'payment-agent', role: 'payments', channel: 'payment-service' });
    // A sender acts only in its own channel ([coord-2] item 9): auth-monitor cannot write into payment-service.
    const across = await post('/msg/send', { from: 'auth-monitor', to: 'payment-agent', channel: 'payment-service', content: 'Token refresh rate spiking.' });
    expect(across).toMatchObject({ status: 404, body: { code: 'UNKNOWN_AGENT' } });
    await post('/agent/register', { agent_id: 'payment-monitor', role: 'monitor', channel: 'payment-service' });
    const sent = await post('/msg/send', { from: 'payment-monitor', to: 'payment-agent', channel: 'payment-service', content: 'Token refresh rate spiking.' });
    expect(sent.status).toBe(200);
    expect((await post('/msg/send', { from: 'payment-monitor', to: 'payment-agent', content: 'wrong channel' })).status).toBe(404);
    await post('/state/set', { key: 'k', value: 'payments only', channel: 'payment-service' });
    expect((await get('/state/get?key=k&channel=auth-service')).body.version).toBe(0);
    expect((await get('/agent/discover?channel=auth-service')).body.agents).toEqual([expect.objectContaining({ id: 'auth-monitor' })]);
    expect((await get('/msg/history?channel=auth-service')).body.messages).toEqual([]);
    const polled = await get('/msg/poll?agent_id=payment-agent&channel=payment-service&timeout=0');
    expect((polled.body.messages as Json[]).map((m) => m.content)).toEqual(['Token refresh rate spiking.']);
    const { channels } = (await get('/channel/list')).body as { channels: Json[] };
    expect(channels.map((c) => c.name)).toEqual(['auth-service', 'default', 'payment-service']);
  });

  it('streams events over SSE and resumes from Last-Event-ID without missing any', async () => {
    const { app, post } = api({ sse_keepalive: 0.05 });
    await post('/agent/register', { agent_id: 'a', role: 'r' });
    await post('/agent/register', { agent_id: 'b', role: 'r' });
    // First connection: read three events, then drop.
    const first = await app.request('/events', { headers: { 'last-event-id': '0' } });
    expect(first.headers.get('content-type')).toContain('text/event-stream');
    await post('/msg/send', { from: 'a', to: 'b', content: 'm1' });
    const seen = eventsOf(await readSse(first.body!, (f) => eventsOf(f).length >= 3));
    expect(seen.map((e) => e.event)).toEqual(['agent_registered', 'agent_registered', 'message']);
    const lastId = seen[seen.length - 1]?.id ?? '0';

    // While disconnected, more happens.
    await post('/msg/send', { from: 'b', to: 'a', content: 'm2' });
    await post('/task/post', { description: 't', posted_by: 'a' });
    await post('/state/set', { key: 'k', value: 1 });

    const resumed = await app.request('/events', { headers: { 'last-event-id': lastId } });
    setTimeout(() => void post('/msg/send', { from: 'a', to: 'b', content: 'm3' }), 50);
    const frames = await readSse(resumed.body!, (f) => eventsOf(f).length >= 4 && f.some((x) => x.comment === 'keepalive'));
    const rest = eventsOf(frames);
    expect(rest.map((e) => e.event)).toEqual(['message', 'task_posted', 'state_changed', 'message']);
    const ids = [...seen, ...rest].map((e) => Number(e.id));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1)); // nothing missed, nothing twice
    expect(JSON.parse(rest[0]?.data ?? '{}')).toMatchObject({ from: 'b', to: 'a', content: 'm2', channel: 'default' });
  });

  it('tells an SSE client that resumes from a trimmed id where the buffer starts', async () => {
    const { app, post } = api({ max_event_buffer: 3 });
    for (let i = 0; i < 6; i++) await post('/state/set', { key: 'k', value: i });
    const res = await app.request('/events?last_event_id=1');
    const frames = await readSse(res.body!, (f) => eventsOf(f).length >= 3);
    const trimmed = frames.find((f) => f.event === 'events_trimmed');
    expect(JSON.parse(trimmed?.data ?? '{}')).toEqual({ requested_after: 1, oldest_id: 4, reason: 'trimmed' });
    expect(eventsOf(frames).map((e) => e.id)).toEqual(['4', '5', '6']);
    expect((await app.request('/events', { headers: { 'last-event-id': 'abc' } })).status).toBe(400);
  });
});
