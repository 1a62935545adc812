import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml } from '../helpers/coord-harness.js';
import { ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #29 item 4: the dashboard showed only the default channel's claims,
 * polled every 2 s. GET /coord/board is its one read of coordination: every
 * channel with agents (states, current file and thread), threads with
 * participants and the conflict score between their claims (every layer),
 * live claims, open tasks, latest messages, and the event id to follow
 * /coord/events from. It is an agent route behind the Host/Origin check,
 * and an agent token sees only its own threads and messages, as on the
 * event stream. On a real gateway with tokens over REST.
 */

const SECRETS = { ann: 'board-ann-secret-000001', bob: 'board-bob-secret-000002', cat: 'board-cat-secret-000003', ops: 'board-ops-secret-000004' };
type Who = keyof typeof SECRETS;
let gw: RunningGateway;

beforeAll(async () => {
  const tokens = Object.keys(SECRETS)
    .map((name) => `[[auth.tokens]]\nname = "${name}"\ntoken = "\${BOARD_${name.toUpperCase()}}"\n${name === 'ops' ? 'role = "admin"\n' : ''}`)
    .join('\n');
  gw = await startGateway(coordToml({}, `[auth]\n${tokens}`), {
    env: Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`BOARD_${name.toUpperCase()}`, secret])),
  });
  await coordReady(gw);
});
afterAll(stopAll);

async function rest(
  who: Who | null,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  extra: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}/coord${path}`, {
    method,
    headers: {
      ...(who === null ? {} : { authorization: `Bearer ${SECRETS[who]}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...extra,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function ok(who: Who, path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const answer = await rest(who, 'POST', path, body);
  expect(answer.status, `${path}: ${JSON.stringify(answer.body)}`).toBe(200);
  return answer.body;
}

interface Score {
  agent_id: string;
  by_agent_id: string;
  score: number;
  layer: string;
  breakdown: { layer: string; score: number }[];
}
interface BoardThread {
  id: string;
  status: string;
  participants: string[];
  scores: Score[];
}
interface BoardChannel {
  name: string;
  agents: { id: string; state: string; waiting_for: string | null; current_file: string | null; current_thread: string | null }[];
  threads: BoardThread[];
  claims: { agent_id: string }[];
  tasks: { description: string }[];
  messages: { from: string; to: string | null; content: string }[];
}
interface Board {
  viewer: string | null;
  last_event_id: number;
  channels: BoardChannel[];
}

async function board(who: Who, query = ''): Promise<Board> {
  const answer = await rest(who, 'GET', `/board${query}`);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body as unknown as Board;
}

const channelOf = (b: Board, name: string): BoardChannel => {
  const found = b.channels.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no channel ${name} on the board: ${b.channels.map((c) => c.name).join(', ')}`);
  return found;
};

describe('GET /coord/board (issue #29 item 4)', () => {
  it('shows every channel: agents with states, a thread with participants and every layer of its score, claims, tasks, messages', async () => {
    const ch = { channel: 'board-a' };
    await ok('ann', '/agent/register', { agent_id: 'ann', role: 'dev', ...ch });
    await ok('bob', '/agent/register', { agent_id: 'bob', role: 'dev', ...ch });
    await ok('cat', '/agent/register', { agent_id: 'cat', role: 'qa', channel: 'board-b' });
    await ok('ann', '/agent/state', { agent_id: 'ann', state: 'working', current_file: 'src/auth/session.ts' });
    await ok('ann', '/claim/announce', { agent_id: 'ann', paths: ['src/auth/session.ts'], intent: 'sessions', ...ch });
    const announced = await ok('bob', '/claim/announce', { agent_id: 'bob', paths: ['src/auth/**'], intent: 'rename', ...ch });
    const thread = announced.thread as { id: string };
    await ok('bob', '/agent/state', { agent_id: 'bob', state: 'waiting', waiting_for: 'ann', current_thread: thread.id });
    await ok('ops', '/task/post', { description: 'review the auth change', posted_by: 'ann', ...ch });
    await ok('ann', '/msg/send', { from: 'ann', to: 'bob', content: 'see the thread', ...ch });

    const all = await board('ops');
    expect(all.viewer).toBeNull();
    expect(all.channels.map((c) => c.name)).toEqual(expect.arrayContaining(['default', 'board-a', 'board-b']));
    const a = channelOf(all, 'board-a');
    const ann = a.agents.find((x) => x.id === 'ann');
    const bob = a.agents.find((x) => x.id === 'bob');
    expect(ann).toMatchObject({ state: 'working', current_file: 'src/auth/session.ts' });
    expect(bob).toMatchObject({ state: 'waiting', waiting_for: 'ann', current_thread: thread.id });
    const shown = a.threads.find((t) => t.id === thread.id);
    expect(shown?.status).toBe('open');
    expect(shown?.participants.sort()).toEqual(['ann', 'bob']);
    // The conflict between the thread's two claims, as bob's announce scored it: every layer.
    expect(shown?.scores).toHaveLength(1);
    expect(shown?.scores[0]).toMatchObject({ by_agent_id: 'bob', agent_id: 'ann', score: 100, layer: 'same_file' });
    expect(shown?.scores[0]?.breakdown.map((l) => [l.layer, l.score])).toEqual([
      ['same_file', 100],
      ['recent_edit', 100],
      ['module', 30],
    ]);
    expect(a.claims.map((c) => c.agent_id).sort()).toEqual(['ann', 'bob']);
    expect(a.tasks.map((t) => t.description)).toEqual(['review the auth change']);
    expect(a.messages.some((m) => m.from === 'ann' && m.to === 'bob' && m.content === 'see the thread')).toBe(true);
    expect(channelOf(all, 'board-b').agents.map((x) => x.id)).toEqual(['cat']);

    // ?channel= reads one channel; the event id is where /coord/events resumes.
    const one = await board('ops', '?channel=board-a');
    expect(one.channels.map((c) => c.name)).toEqual(['board-a']);
    expect(one.last_event_id).toBeGreaterThanOrEqual(all.last_event_id);
    expect(all.last_event_id).toBeGreaterThan(0);
  });

  it('shows an agent token only the threads it takes part in and the messages it sent or received', async () => {
    await ok('cat', '/agent/register', { agent_id: 'cat', role: 'qa', channel: 'board-a' });
    const asCat = await board('cat', '?channel=board-a');
    expect(asCat.viewer).toBe('cat');
    const a = channelOf(asCat, 'board-a');
    expect(a.threads).toEqual([]); // ann and bob's thread is theirs
    expect(a.messages).toEqual([]); // ann's message went to bob
    expect(a.agents.map((x) => x.id).sort()).toEqual(['ann', 'bob', 'cat']); // who is there and what they do is no secret
    const asBob = channelOf(await board('bob', '?channel=board-a'), 'board-a');
    expect(asBob.threads).toHaveLength(1);
    expect(asBob.threads[0]?.scores[0]?.score).toBe(100);
    expect(asBob.messages.map((m) => m.content)).toContain('see the thread');
  });

  it('is an agent route behind the Host/Origin check, and refuses unknown parameters', async () => {
    expect((await rest(null, 'GET', '/board')).status).toBe(401);
    const foreign = await rest('ops', 'GET', '/board', undefined, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe('FORBIDDEN');
    const unknown = await rest('ops', 'GET', '/board?chanel=x');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toContain("'chanel'");
    expect((await rest('ops', 'POST', '/board', {})).status).toBe(405);
    expect((await rest('ops', 'GET', '/board?channel=')).status).toBe(400);
  });

  // Last: the demo re-registers bob in its own channel.
  it('examples/coord-demo/demo.mjs runs to the end with an admin token, and the board shows its settled thread', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'examples', 'coord-demo', 'demo.mjs'), '--pace', '0'], {
      cwd: ROOT,
      env: { ...process.env, STONEGATE_URL: gw.url, STONEGATE_TOKEN: SECRETS.ops, RUN_ID: 'rest' },
      timeout: 60_000,
    });
    expect(stdout).toContain('bob    announce src/auth/** -> conflict (score 100)');
    expect(stdout).toContain('recent_edit 100: recently edited');
    // By push once the gateway pushes into sessions (#29 item 1), by the event stream before.
    expect(stdout).toMatch(/alice {2}told by (push|the event stream): bob opened a thread: Conflict on src\/auth\/\*\*/);
    expect(stdout).toMatch(/bob {4}told by (push|the event stream): alice proposal: I keep src\/auth\/session.ts/);
    expect(stdout).toContain('bob    approve -> thread resolved (consensus)');
    const demo = channelOf(await board('ops', '?channel=coord-demo-rest'), 'coord-demo-rest');
    expect(demo.threads.map((t) => [t.status, t.participants.join(','), t.scores[0]?.score])).toEqual([['resolved', 'bob,alice', 100]]);
    expect(demo.agents.map((a) => [a.id, a.state, a.current_file])).toEqual([
      ['alice', 'working', 'src/auth/session.ts'],
      ['bob', 'working', 'src/auth/user.ts'],
    ]);
  });
});
