import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * The dashboard's data routes over plain HTTP: GET /log/stream replays its
 * backlog oldest first, then streams calls as they finish, filtered to the
 * token's backends; GET /call lists async calls by owner and backend (filters
 * before its limit); and
 * an open stream does not hold up the gateway's stop.
 */

const ADMIN = 'routes-admin-token-91c2';
const SCOPED = 'routes-scoped-admin-5e7a';
const AGENT = 'routes-agent-token-3b8d';
let gateway: RunningGateway;

beforeAll(async () => {
  gateway = await startGateway(
    `
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${R_ADMIN}"

[[auth.tokens]]
name = "counter-admin"
role = "admin"
token = "\${R_SCOPED}"
servers = ["counter"]

[[auth.tokens]]
name = "agent"
token = "\${R_AGENT}"

${demoBackend()}

[[backends]]
name = "counter"
command = "node"
args = [${q(fixture('counter-server'))}]
`,
    { env: { R_ADMIN: ADMIN, R_SCOPED: SCOPED, R_AGENT: AGENT } },
  );
  await gateway.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
  await gateway.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'counter');
}, 60_000);
afterAll(stopAll);

async function api(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Reads `call` events from GET /log/stream until `until` says stop. */
async function readStream(
  path: string,
  token: string,
  until: (events: { server: string; tool: string }[]) => boolean,
  onOpen?: () => Promise<void>,
): Promise<{ server: string; tool: string }[]> {
  const controller = new AbortController();
  const response = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: { server: string; tool: string }[] = [];
  let buffer = '';
  let opened = false;
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      if (!opened && buffer.includes(': stonegate call stream')) {
        opened = true;
        await onOpen?.();
      }
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (/^event: call$/m.test(block) && data !== undefined) events.push(JSON.parse(data) as { server: string; tool: string });
      }
    }
  } finally {
    controller.abort();
  }
  return events;
}

describe('dashboard data routes', () => {
  it('GET /log/stream replays the backlog oldest first, then streams new calls', async () => {
    for (const text of ['one', 'two', 'three'])
      expect((await api('POST', '/call', ADMIN, { server: 'demo', tool: 'echo', arguments: { text } })).status).toBe(200);
    await api('POST', '/call', ADMIN, { server: 'demo', tool: 'add', arguments: { a: 1, b: 2 } });
    const events = await readStream(
      '/log/stream?backlog=2',
      ADMIN,
      (e) => e.length >= 3,
      async () => {
        await api('POST', '/call', ADMIN, { server: 'counter', tool: 'ok', arguments: {} });
      },
    );
    expect(events.map((e) => `${e.server}/${e.tool}`)).toEqual(['demo/echo', 'demo/add', 'counter/ok']);
  });

  it('GET /log/stream shows a token limited to backends only their calls', async () => {
    const events = await readStream(
      '/log/stream?backlog=50',
      SCOPED,
      (e) => e.some((x) => x.tool === 'count'),
      async () => {
        await api('POST', '/call', ADMIN, { server: 'demo', tool: 'echo', arguments: { text: 'hidden' } });
        await api('POST', '/call', ADMIN, { server: 'counter', tool: 'count', arguments: {} });
      },
    );
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((e) => e.server === 'counter')).toBe(true);
  });

  it('GET /log/stream is an admin route and checks its query', async () => {
    expect((await api('GET', '/log/stream', AGENT)).body.code).toBe('FORBIDDEN');
    expect((await api('GET', '/log/stream?backlog=-1', ADMIN)).body.code).toBe('BAD_REQUEST');
  });

  it('GET /call lists async calls: an agent its own, an admin all, a scoped token its backends', async () => {
    const mine = await api('POST', '/call/async', AGENT, { server: 'counter', tool: 'slow', arguments: { ms: 30_000 } });
    const theirs = await api('POST', '/call/async', ADMIN, { server: 'demo', tool: 'sleep', arguments: { ms: 30_000 } });
    expect(mine.status).toBe(202);
    expect(theirs.status).toBe(202);
    const ids = async (token: string, query = '?state=active'): Promise<string[]> =>
      ((await api('GET', `/call${query}`, token)).body.calls as { call_id: string }[]).map((c) => c.call_id);
    expect(await ids(AGENT)).toEqual([mine.body.call_id]);
    expect((await ids(ADMIN)).sort()).toEqual([mine.body.call_id, theirs.body.call_id].sort());
    expect(await ids(SCOPED)).toEqual([mine.body.call_id]);
    const listed = ((await api('GET', '/call?state=active', ADMIN)).body.calls as { call_id: string; status: string; caller: string; result?: unknown }[]).find(
      (c) => c.call_id === mine.body.call_id,
    );
    expect(listed?.caller).toBe('agent');
    expect(['pending', 'running']).toContain(listed?.status);
    expect(listed).not.toHaveProperty('result');
    await api('DELETE', `/call/${String(mine.body.call_id)}`, AGENT);
    await api('DELETE', `/call/${String(theirs.body.call_id)}`, ADMIN);
    expect(await ids(ADMIN)).toEqual([]);
    expect(await ids(ADMIN, '?state=all&limit=1')).toHaveLength(1);
    expect((await api('GET', '/call?state=done', ADMIN)).body.code).toBe('BAD_REQUEST');
  });

  it("GET /call applies state and the token's backends before limit: newer finished calls do not hide an older running one", async () => {
    const running = await api('POST', '/call/async', ADMIN, { server: 'counter', tool: 'slow', arguments: { ms: 30_000 } });
    for (const text of ['a', 'b', 'c']) {
      const done = await api('POST', '/call/async', ADMIN, { server: 'demo', tool: 'echo', arguments: { text } });
      expect((await api('GET', `/call/${String(done.body.call_id)}?wait_ms=5000`, ADMIN)).body.status).toBe('complete');
    }
    const page = async (token: string, query: string): Promise<{ ids: string[]; has_more: unknown; total: unknown }> => {
      const body = (await api('GET', `/call${query}`, token)).body;
      return { ids: (body.calls as { call_id: string }[]).map((c) => c.call_id), has_more: body.has_more, total: body.total };
    };
    // Before: the two newest calls (finished) were cut first, then filtered out: an empty page.
    expect(await page(ADMIN, '?state=active&limit=2')).toEqual({ ids: [running.body.call_id], has_more: false, total: 1 });
    // The scoped token sees only counter: its newest is the running call, three demo calls newer notwithstanding.
    expect((await page(SCOPED, '?state=all&limit=1')).ids).toEqual([running.body.call_id]);
    expect(await page(ADMIN, '?state=all&limit=2')).toMatchObject({ has_more: true, total: 2 });
    await api('DELETE', `/call/${String(running.body.call_id)}`, ADMIN);
  });

  it('an open stream does not hold up the gateway stop', async () => {
    const response = await fetch(`${gateway.url}/log/stream`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const reader = response.body!.getReader();
    await reader.read(); // the stream is open
    const exit = await gateway.stop('SIGTERM');
    expect(exit.code).toBe(0);
    // The gateway ended the stream rather than leaving it hanging.
    let done = false;
    while (!done) done = (await reader.read().catch(() => ({ done: true }))).done;
  });
});
