import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordSession, coordReady, coordToml, SessionSet } from '../helpers/coord-harness.js';
import { type RunningCoord, startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { type RunningGateway, startGateway, stopAll as stopGateways } from '../helpers/harness.js';

// Issue #21, item 10: the coordination backend had hard limits no operator
// could set or read about: 8,000 characters of intent, thread subject and
// thread message (a thread message ignored max_message_size), 200 entries
// per list, 512 characters per path, and no bound on capabilities. Each is
// now a [coordination] key with a documented default, and a request over
// one is refused with PAYLOAD_TOO_LARGE naming the limit and its key, with
// {field, size, limit}, the same over MCP and REST. A gateway with lowered
// limits refuses what the defaults take; a standalone server with raised
// ones takes what the old constants refused.

const LOWERED = { max_intent_length: 50, max_list_entries: 3, max_path_length: 20, max_capabilities: 2, max_message_size: 10_000 };

/** One request over a lowered limit, as a tool call and as its REST route. */
interface Case {
  name: string;
  tool: string;
  path: string;
  args: () => Record<string, unknown>;
  field: string;
  size: number;
  limit: number;
  sentence: RegExp;
}

let threadId = '';

const CASES: readonly Case[] = [
  {
    name: 'an intent over max_intent_length',
    tool: 'mux_claim_announce',
    path: '/claim/announce',
    args: () => ({ agent_id: 'lim-a', paths: ['src/a.ts'], intent: 'i'.repeat(51) }),
    field: 'intent',
    size: 51,
    limit: 50,
    sentence: /^intent has 51 characters; the limit is 50 characters \(max_intent_length\)\./,
  },
  {
    name: 'more paths than max_list_entries',
    tool: 'mux_claim_check',
    path: '/claim/check',
    args: () => ({ paths: ['a', 'b', 'c', 'd'] }),
    field: 'paths',
    size: 4,
    limit: 3,
    sentence: /^paths has 4 entries; the limit is 3 entries \(max_list_entries\)\. Use globs/,
  },
  {
    name: 'a path over max_path_length',
    tool: 'mux_claim_check',
    path: '/claim/check',
    args: () => ({ paths: ['src/ok.ts', `src/${'x'.repeat(20)}.ts`] }),
    field: 'paths',
    size: 27,
    limit: 20,
    sentence: /^paths\[1\] has 27 characters; the limit is 20 characters \(max_path_length\)\./,
  },
  {
    name: 'more capabilities than max_capabilities',
    tool: 'mux_register',
    path: '/agent/register',
    args: () => ({ agent_id: 'lim-c', role: 'r', capabilities: ['x', 'y', 'z'] }),
    field: 'capabilities',
    size: 3,
    limit: 2,
    sentence: /^capabilities has 3 entries; the limit is 2 entries \(max_capabilities\)\.$/,
  },
  {
    name: 'more participants than max_list_entries',
    tool: 'mux_thread_open',
    path: '/thread/open',
    args: () => ({ agent_id: 'lim-a', participants: ['p1', 'p2', 'p3', 'p4'], subject: 's' }),
    field: 'participants',
    size: 4,
    limit: 3,
    sentence: /^participants has 4 entries; the limit is 3 entries \(max_list_entries\)\.$/,
  },
  {
    name: 'a thread message over max_message_size',
    tool: 'mux_thread_post',
    path: '/thread/post',
    args: () => ({ thread_id: threadId, agent_id: 'lim-a', content: 'm'.repeat(10_001) }),
    field: 'content',
    size: 10_001,
    limit: 10_000,
    sentence: /^content has 10001 bytes; the limit is 10000 bytes \(max_message_size\)\./,
  },
];

const dir = mkdtempSync(join(tmpdir(), 'issue-21-limits-'));
const sessions = new SessionSet();
let gw: RunningGateway;
let agent: CoordSession;
let raised: RunningCoord;

beforeAll(async () => {
  gw = await startGateway(coordToml(LOWERED));
  await coordReady(gw);
  agent = await sessions.open(gw.url);
  await agent.ok('mux_register', { agent_id: 'lim-a', role: 'r' });
  await agent.ok('mux_register', { agent_id: 'lim-b', role: 'r' });
  threadId = String((await agent.ok('mux_thread_open', { agent_id: 'lim-a', participants: ['lim-b'], subject: 'limits' })).id);
  raised = await startCoord(join(dir, 'coord.db'), ['--opt', 'max_intent_length=9000', '--opt', 'max_list_entries=300', '--opt', 'max_path_length=1000']);
});
afterAll(async () => {
  await sessions.closeAll();
  await stopGateways();
  await stopCoords();
  rmSync(dir, { recursive: true, force: true });
});

describe('issue 21.10: a request over a [coordination] limit is refused naming the limit and its key', () => {
  it.each(CASES)('$name: PAYLOAD_TOO_LARGE with {field, size, limit}, the same over MCP and REST', async (c) => {
    const args = c.args();
    const viaMcp = await agent.call(c.tool, args);
    expect(viaMcp.isError).toBe(true);
    expect(viaMcp.meta?.['stonegate/error']).toEqual({ code: 'PAYLOAD_TOO_LARGE', field: c.field });
    expect(viaMcp.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: c.field, size: c.size, limit: c.limit });
    expect(String(viaMcp.body.error)).toMatch(c.sentence);
    const viaRest = await gw.request('POST', `/coord${c.path}`, args);
    expect(viaRest.status).toBe(413);
    expect(viaRest.body).toEqual(viaMcp.body);
  });

  it('just under each lowered limit is accepted', async () => {
    await agent.ok('mux_claim_check', { paths: ['a', 'b', `src/${'x'.repeat(13)}.ts`] });
    await agent.ok('mux_register', { agent_id: 'lim-c', role: 'r', capabilities: ['x', 'y'] });
    await agent.ok('mux_claim_announce', { agent_id: 'lim-a', paths: ['src/a.ts'], intent: 'i'.repeat(50) });
    await agent.ok('mux_thread_post', { thread_id: threadId, agent_id: 'lim-a', content: 'm'.repeat(10_000) });
  });

  it('raised limits take what the old fixed ones refused: a 9,000-character intent, 300 paths, a 600-character path', async () => {
    expect((await raised.post('/agent/register', { agent_id: 'big', role: 'r' })).status).toBe(200);
    const paths = Array.from({ length: 300 }, (_, i) => `src/f${i}.ts`);
    const announced = await raised.post('/claim/announce', { agent_id: 'big', paths, intent: 'i'.repeat(9_000) });
    expect(announced).toMatchObject({ status: 200 });
    const long = await raised.post('/claim/check', { paths: [`src/${'d'.repeat(600)}.ts`] });
    expect(long.status).toBe(200);
  });

  it('a thread message is held to max_message_size, not 8,000 characters (defaults)', async () => {
    expect((await raised.post('/agent/register', { agent_id: 'other', role: 'r' })).status).toBe(200);
    const opened = await raised.post('/thread/open', { agent_id: 'big', participants: ['other'], subject: 'a long note' });
    const id = String(opened.body.id);
    expect((await raised.post('/thread/post', { thread_id: id, agent_id: 'big', content: 'n'.repeat(9_000) })).status).toBe(200);
    expect((await raised.get('/health')).body).toMatchObject({ status: 'ok' });
  });
});
