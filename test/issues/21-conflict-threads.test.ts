import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordSession, coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

// Issue #21, item 6: threads with nobody to answer. thread/open accepted
// unregistered participants and claim ids that name nothing; announcing the
// same work again, or twice at once, opened a second claim and a second
// thread; thread notices in inboxes were plain direct messages with the
// thread id only in their text. Now unknown references are refused
// (UNKNOWN_AGENT, UNKNOWN_CLAIM) with one sentence on REST and MCP, a repeat
// of the same work answers the live claim and its thread, one thread lives
// per conflict, and notices carry kind "thread" and thread_id.

describe('#21 item 6: conflict threads have someone to answer, once', () => {
  let gw: RunningGateway;
  const sessions = new SessionSet();
  let mcp: CoordSession;

  beforeAll(async () => {
    gw = await startGateway(coordToml());
    await coordReady(gw);
    mcp = await sessions.open(gw.url, 'threads');
    for (const agent_id of ['holder', 'comer']) await rest(gw, 'POST', '/agent/register', { agent_id, role: 'dev' });
  });

  afterAll(async () => {
    await sessions.closeAll();
    await stopAll();
  });

  it('refuses a thread with an unregistered participant or an unknown claim, the same way on REST and MCP', async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ agent_id: 'holder', participants: ['ghost'], subject: 'Anyone?' }, 'UNKNOWN_AGENT', /^Participant 'ghost' is not registered/],
      [{ agent_id: 'ghost', participants: ['holder'], subject: 'Hi' }, 'UNKNOWN_AGENT', /^Thread opener 'ghost' is not registered/],
      [
        { agent_id: 'holder', participants: ['comer'], subject: 'That claim', claim_ids: ['no-such-claim'] },
        'UNKNOWN_CLAIM',
        /^claim_ids names no work claim with id 'no-such-claim'/,
      ],
    ];
    for (const [input, code, sentence] of cases) {
      const viaRest = await gw.request('POST', '/coord/thread/open', input);
      const viaMcp = await mcp.call('mux_thread_open', input);
      expect(viaRest.status).toBe(404);
      expect(viaRest.body).toMatchObject({ code, error: expect.stringMatching(sentence) });
      expect(viaMcp).toMatchObject({ isError: true, body: { code, error: viaRest.body.error } });
    }
    expect((await rest(gw, 'GET', '/thread/list')).threads).toEqual([]);
  });

  it('gives two announces of the same work at once (REST and MCP) one claim and one thread, round after round', async () => {
    for (let round = 0; round < 5; round++) {
      const path = `src/race${round}.ts`;
      await rest(gw, 'POST', '/claim/announce', { agent_id: 'holder', paths: [path], intent: 'Mine' });
      const input = { agent_id: 'comer', paths: [path], intent: 'Mine too' };
      const [viaRest, viaMcp] = await Promise.all([rest(gw, 'POST', '/claim/announce', input), mcp.ok('mux_claim_announce', input)]);
      const claims = [viaRest, viaMcp].map((r) => (r.claim as { id: string }).id);
      expect(claims[0], `round ${round}`).toBe(claims[1]);
      expect([viaRest.repeated, viaMcp.repeated].sort()).toEqual([false, true]);
      const threads = [viaRest, viaMcp].map((r) => (r.thread as { id: string } | null)?.id);
      expect(threads[0]).toBeDefined();
      expect(threads[0]).toBe(threads[1]);
      const listed = (await rest(gw, 'GET', '/claim/list?agent_id=comer')).claims as Array<{ paths: string[] }>;
      expect(listed.filter((c) => c.paths.includes(path))).toHaveLength(1);
    }
    expect(((await rest(gw, 'GET', '/thread/list?agent_id=comer')).threads as unknown[]).length).toBe(5); // one per round
  });

  it('gives two agents announcing one file at once (REST and MCP) one thread between them', async () => {
    for (let round = 0; round < 5; round++) {
      const path = `lib/pair${round}.ts`;
      const answers = await Promise.all([
        rest(gw, 'POST', '/claim/announce', { agent_id: 'holder', paths: [path], intent: 'Left' }),
        mcp.ok('mux_claim_announce', { agent_id: 'comer', paths: [path], intent: 'Right' }),
      ]);
      const threads = answers.map((a) => (a.thread as { id: string } | null)?.id).filter((id) => id !== undefined);
      expect(threads, `round ${round}`).toHaveLength(1);
    }
  });

  it('answers two opens about the same claims at once with one thread', async () => {
    const a = await rest(gw, 'POST', '/claim/announce', { agent_id: 'holder', paths: ['docs/a.md'], intent: 'Docs' });
    const b = await rest(gw, 'POST', '/claim/announce', { agent_id: 'comer', paths: ['docs/b.md'], intent: 'Docs too' });
    const ids = [(a.claim as { id: string }).id, (b.claim as { id: string }).id];
    const input = { agent_id: 'holder', participants: ['comer'], subject: 'Who writes the docs?', claim_ids: ids };
    const [viaRest, viaMcp] = await Promise.all([
      rest(gw, 'POST', '/thread/open', input),
      mcp.ok('mux_thread_open', { ...input, claim_ids: [...ids].reverse() }),
    ]);
    expect(viaRest.id).toBe(viaMcp.id);
  });

  it('puts thread notices in inboxes with kind "thread" and thread_id as fields, over REST and MCP', async () => {
    await rest(gw, 'POST', '/agent/register', { agent_id: 'reader', role: 'dev' });
    await rest(gw, 'POST', '/agent/register', { agent_id: 'writer', role: 'dev' });
    const thread = await rest(gw, 'POST', '/thread/open', { agent_id: 'writer', participants: ['reader'], subject: 'Naming' });
    await rest(gw, 'POST', '/thread/post', { thread_id: thread.id, agent_id: 'writer', kind: 'question', content: 'camelCase?' });
    const viaMcp = await mcp.ok('mux_poll', { agent_id: 'reader', timeout: 0, after: 0 });
    const viaRest = await rest(gw, 'GET', '/msg/poll?agent_id=reader&timeout=0&after=0');
    for (const answer of [viaMcp, viaRest]) {
      expect(answer.messages).toMatchObject([
        { kind: 'thread', thread_id: thread.id, from: 'writer' },
        { kind: 'thread', thread_id: thread.id, content: expect.stringContaining('camelCase?') },
      ]);
    }
  });
});
