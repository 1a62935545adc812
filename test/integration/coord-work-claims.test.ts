import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CoordSession, coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { eventually, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { eventsOf, readSse } from '../helpers/sse.js';

/*
 * Work claims and consultation threads through a real gateway process: MCP
 * tools coord__mux_claim_* / coord__mux_thread_* on /mcp (router, pool,
 * breaker) and the same over REST under /coord, with their events on
 * /coord/events and `_meta` on every tool answer.
 */

let gw: RunningGateway;
const sessions = new SessionSet();

beforeAll(async () => {
  // A short default TTL makes the expiry sweep run every 250 ms.
  gw = await startGateway(coordToml({ claim_ttl_default: 1, thread_timeout: 600 }, 'claim_admins = ["lead"]'));
  await coordReady(gw);
});
afterEach(() => sessions.closeAll());
afterAll(stopAll);

interface Conflict {
  agent_id: string;
  claim_id: string;
  score: number;
  layer: string;
  intent: string;
  reason: string;
}
interface ThreadBody {
  id: string;
  status: string;
  participants: string[];
  resolution: { text: string; how: string } | null;
}

const conflictsOf = (body: Record<string, unknown>): Conflict[] => body.conflicts as Conflict[];
const threadOf = (body: Record<string, unknown>): ThreadBody => body.thread as ThreadBody;

async function two(): Promise<[CoordSession, CoordSession]> {
  return [await sessions.open(gw.url, 'claims-a'), await sessions.open(gw.url, 'claims-b')];
}

describe('work claims through the gateway', () => {
  it('two agents claiming the same file over MCP: score 100, a thread, a notice in the inbox, _meta on every answer', async () => {
    const [alice, bob] = await two();
    await alice.ok('mux_register', { agent_id: 'it-alice', role: 'dev' });
    await bob.ok('mux_register', { agent_id: 'it-bob', role: 'dev' });
    const held = await alice.ok('mux_claim_announce', {
      agent_id: 'it-alice',
      paths: ['src/auth/session.ts'],
      intent: 'Refactor session storage',
      repo: 'r1',
      ttl_seconds: 600,
    });
    expect(held).toMatchObject({ verdict: 'clear', score: 0, thread: null });

    const answer = await bob.call('mux_claim_announce', {
      agent_id: 'it-bob',
      paths: ['src/auth/*.ts'],
      intent: 'Rename User fields',
      repo: 'r1',
      ttl_seconds: 600,
    });
    expect(answer.isError).toBe(false);
    expect(answer.body).toMatchObject({ verdict: 'conflict', score: 100 });
    expect(conflictsOf(answer.body)).toEqual([
      expect.objectContaining({ agent_id: 'it-alice', score: 100, layer: 'same_file', intent: 'Refactor session storage' }),
    ]);
    const thread = threadOf(answer.body);
    expect(thread).toMatchObject({ status: 'open', participants: ['it-bob', 'it-alice'] });
    // _meta travels through the gateway: the answer's size, the server's time, the caller's unread count.
    expect(answer.meta).toMatchObject({ chars: answer.text.length, lines: 1, ms: expect.any(Number), unread: 0 });

    // The thread notice is in alice's inbox: her next answer of any tool says so.
    const heartbeat = await alice.call('mux_heartbeat', { agent_id: 'it-alice' });
    expect(heartbeat.meta).toMatchObject({ unread: 1 });
    const inbox = await alice.ok('mux_poll', { agent_id: 'it-alice', timeout: 0 });
    expect(JSON.stringify(inbox.messages)).toContain(`[thread ${thread.id}] it-bob opened a thread`);
    expect((await alice.call('mux_heartbeat', { agent_id: 'it-alice' })).meta).toMatchObject({ unread: 0 });
  });

  it('scores a dependency overlap 80 and a module overlap 30 over REST', async () => {
    await rest(gw, 'POST', '/claim/announce', { agent_id: 'it-db', paths: ['src/db/schema.ts'], intent: 'Change the schema', repo: 'r2', ttl_seconds: 600 });
    const reader = await rest(gw, 'POST', '/claim/announce', {
      agent_id: 'it-api',
      paths: ['src/api/users.ts'],
      depends_on: ['src/db/schema.ts'],
      intent: 'New endpoint',
      repo: 'r2',
      ttl_seconds: 600,
    });
    expect(reader).toMatchObject({ verdict: 'caution', score: 80, thread: null });
    expect(conflictsOf(reader)[0]).toMatchObject({ agent_id: 'it-db', layer: 'dependency', score: 80 });
    const neighbour = await rest(gw, 'POST', '/claim/check', { paths: ['src/db/migrations/002.sql'], repo: 'r2' });
    expect(neighbour).toMatchObject({ verdict: 'caution', score: 30 });
    expect(conflictsOf(neighbour).map((c) => [c.agent_id, c.layer])).toEqual([['it-db', 'module']]);
  });

  it('refuses an exclusive claim while the other holds it, naming the holder; grants it after release and after expiry', async () => {
    const [holder, taker] = await two();
    const held = await holder.ok('mux_claim_announce', { agent_id: 'it-holder', paths: ['lib/core.ts'], intent: 'Hold core', repo: 'r3', ttl_seconds: 600 });
    const refused = await taker.call('mux_claim_announce', { agent_id: 'it-taker', paths: ['lib/**'], intent: 'Rewrite lib', repo: 'r3', exclusive: true });
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/^CONFLICT: Exclusive claim refused: .*'it-holder'/);
    expect(refused.body).toMatchObject({ code: 'CONFLICT', holders: [{ agent_id: 'it-holder', claim_id: (held.claim as { id: string }).id }] });
    expect(refused.meta).toMatchObject({ 'stonegate/error': { code: 'CONFLICT' }, unread: 0 });

    await holder.ok('mux_claim_release', { claim_id: (held.claim as { id: string }).id, agent_id: 'it-holder' });
    const granted = await taker.ok('mux_claim_announce', {
      agent_id: 'it-taker',
      paths: ['lib/**'],
      intent: 'Rewrite lib',
      repo: 'r3',
      exclusive: true,
      ttl_seconds: 0.5,
    });
    expect(granted).toMatchObject({ verdict: 'clear', claim: { exclusive: true } });
    // While the exclusive claim lives, the former holder is refused too; once it expires, granted.
    const blocked = await holder.call('mux_claim_announce', { agent_id: 'it-holder', paths: ['lib/core.ts'], intent: 'Again', repo: 'r3' });
    expect(blocked.isError).toBe(true);
    const after = await eventually(async () => {
      const attempt = await holder.call('mux_claim_announce', { agent_id: 'it-holder', paths: ['lib/core.ts'], intent: 'Again', repo: 'r3', exclusive: true });
      return attempt.isError ? undefined : attempt.body;
    });
    expect(after).toMatchObject({ verdict: 'clear' });
  });

  it('never lets different repository ids conflict on the same relative path', async () => {
    await rest(gw, 'POST', '/claim/announce', {
      agent_id: 'it-front',
      paths: ['src/index.ts'],
      intent: 'x',
      repo: 'frontend',
      exclusive: true,
      ttl_seconds: 600,
    });
    const other = await rest(gw, 'POST', '/claim/announce', {
      agent_id: 'it-back',
      paths: ['src/index.ts'],
      intent: 'y',
      repo: 'backend',
      exclusive: true,
      ttl_seconds: 600,
    });
    expect(other).toMatchObject({ verdict: 'clear', conflicts: [] });
  });

  it('refuses a forced release unless the releaser is a claim admin', async () => {
    const claim = (await rest(gw, 'POST', '/claim/announce', { agent_id: 'it-owner', paths: ['x.ts'], intent: 'x', repo: 'r4', ttl_seconds: 600 })).claim as {
      id: string;
    };
    const refused = await gw.request('POST', '/coord/claim/release', { claim_id: claim.id, agent_id: 'it-stranger' });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'FORBIDDEN', agent_id: 'it-owner' });
    expect(await rest(gw, 'POST', '/claim/release', { claim_id: claim.id, agent_id: 'lead' })).toMatchObject({ status: 'released', released_by: 'lead' });
    const unknown = await gw.request('POST', '/coord/claim/release', { claim_id: 'nope', agent_id: 'lead' });
    expect(unknown).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CLAIM' } });
    const bad = await gw.request('POST', '/coord/claim/announce', { agent_id: 'a', paths: ['../../etc/passwd'], intent: 'x' });
    expect(bad).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
  });
});

describe('consultation threads through the gateway', () => {
  it('propose → approve resolves; contest reopens; events on /coord/events; status shows claims, hot paths and threads', async () => {
    const events = await fetch(`${gw.url}/coord/events?channel=threads`, { headers: { accept: 'text/event-stream' } });
    const [a, b] = await two();
    await a.ok('mux_claim_announce', { agent_id: 'it-ta', paths: ['app/model.ts'], intent: 'Add a field', channel: 'threads', ttl_seconds: 600 });
    const announced = await b.ok('mux_claim_announce', {
      agent_id: 'it-tb',
      paths: ['app/model.ts'],
      intent: 'Remove a field',
      channel: 'threads',
      ttl_seconds: 600,
    });
    const id = threadOf(announced).id;

    await a.ok('mux_thread_post', { thread_id: id, agent_id: 'it-ta', kind: 'proposal', content: 'I add mine first, you remove after' });
    const contested = await b.ok('mux_thread_contest', { thread_id: id, agent_id: 'it-tb', content: 'Removal first, it is smaller' });
    expect(threadOf(contested).status).toBe('open');
    await b.ok('mux_thread_post', { thread_id: id, agent_id: 'it-tb', kind: 'proposal', content: 'I remove first, then you add' });
    const resolved = await a.ok('mux_thread_approve', { thread_id: id, agent_id: 'it-ta' });
    expect(threadOf(resolved)).toMatchObject({ status: 'resolved', resolution: { text: 'I remove first, then you add', how: 'consensus' } });

    const status = await rest(gw, 'GET', '/status?channel=threads');
    expect((status.claims as unknown[]).length).toBe(2);
    expect(status.hot_paths).toEqual([{ repo: 'default', path: 'app/model.ts', agents: ['it-ta', 'it-tb'] }]);
    expect((status.threads as ThreadBody[]).map((t) => [t.id, t.status])).toEqual([[id, 'resolved']]);
    const viaMcp = await a.ok('mux_status', { channel: 'threads' });
    expect(viaMcp.hot_paths).toEqual(status.hot_paths);

    const view = await rest(gw, 'GET', `/thread/get?thread_id=${id}&agent_id=it-tb`);
    expect((view.messages as Array<{ kind: string }>).map((m) => m.kind)).toEqual(['opened', 'proposal', 'contest', 'proposal', 'approve']);
    const outsider = await gw.request('GET', `/coord/thread/get?thread_id=${id}&agent_id=it-outsider`);
    expect(outsider).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    const updates = await rest(gw, 'GET', '/thread/updates?agent_id=it-ta&after=0&channel=threads');
    expect((updates.messages as unknown[]).length).toBe(5);

    await b.ok('mux_thread_close', { thread_id: id, agent_id: 'it-tb', content: 'Both done' });
    const frames = eventsOf(
      await readSse(events.body!, (f) => eventsOf(f).some((e) => e.event === 'thread_status' && (JSON.parse(e.data) as { to?: string }).to === 'closed')),
    );
    const types = frames.map((f) => f.event);
    expect(types.filter((t) => t.startsWith('claim_'))).toEqual(['claim_announced', 'claim_announced']);
    expect(types).toContain('thread_opened');
    expect(frames.filter((f) => f.event === 'thread_status').map((f) => (JSON.parse(f.data) as { to: string }).to)).toEqual([
      'proposed',
      'open',
      'proposed',
      'resolved',
      'closed',
    ]);
    expect((await rest(gw, 'GET', '/status?channel=threads')).threads).toEqual([]);
  });
});
