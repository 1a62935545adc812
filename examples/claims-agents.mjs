#!/usr/bin/env node
// Three scripted agents coordinate through the gateway's MCP endpoint:
// they announce work on files, detect the conflict, negotiate in the
// consultation thread it opens, hand work off through a task, and share a
// versioned state key. Start the gateway (npm start), then:
//
//   node examples/claims-agents.mjs
//
// STONEGATE_URL points it at another gateway (default http://127.0.0.1:3393);
// STONEGATE_TOKEN is sent as a bearer token when the gateway has [auth] tokens
// (an admin token: the three agents act as themselves through it).
// Each run uses its own channel, so runs never see each other's data.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const BASE = (process.env.STONEGATE_URL ?? 'http://127.0.0.1:3393').replace(/\/$/, '');
const TOKEN = process.env.STONEGATE_TOKEN;
const RUN = process.env.RUN_ID ?? Date.now().toString(36);
const CHANNEL = `claims-demo-${RUN}`;
const REPO = 'github.com/acme/shop';

/** One agent: its own MCP session on /mcp, calling coord__mux_* tools. */
class Agent {
  constructor(id, client) {
    this.id = id;
    this.client = client;
  }

  static async connect(id) {
    const client = new Client({ name: id, version: '1.0.0' });
    const headers = TOKEN === undefined ? {} : { authorization: `Bearer ${TOKEN}` };
    await client.connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { requestInit: { headers } }));
    return new Agent(id, client);
  }

  /** Calls coord__<tool>; returns {body, meta, error} (error: the code when refused). */
  async call(tool, args) {
    const result = await this.client.callTool({ name: `coord__${tool}`, arguments: args });
    const body = result.structuredContent ?? {};
    return { body, meta: result._meta ?? {}, error: result.isError === true ? (body.code ?? 'ERROR') : null };
  }

  /** Calls a tool that must succeed. */
  async ok(tool, args) {
    const answer = await this.call(tool, args);
    if (answer.error !== null) throw new Error(`${this.id}: ${tool} refused: ${answer.error}: ${answer.body.error}`);
    return answer;
  }
}

const say = (who, text) => console.log(`${who.padEnd(8)} ${text}`);
/** The token accounting of an answer (unread only when the call named an agent). */
const metaOf = ({ meta }) =>
  `_meta ${JSON.stringify(meta.unread === null ? { chars: meta.chars, lines: meta.lines } : { chars: meta.chars, lines: meta.lines, unread: meta.unread })}`;

async function main() {
  console.log(`gateway  ${BASE}/mcp, channel ${CHANNEL}, repo ${REPO}`);
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((name) => Agent.connect(`${name}-${RUN}`)));
  const name = (agent) => agent.id.replace(`-${RUN}`, '');
  try {
    await alice.ok('mux_register', { agent_id: alice.id, role: 'backend', capabilities: ['code'], channel: CHANNEL });
    await bob.ok('mux_register', { agent_id: bob.id, role: 'backend', capabilities: ['code'], channel: CHANNEL });
    await carol.ok('mux_register', { agent_id: carol.id, role: 'qa', capabilities: ['tests'], channel: CHANNEL });
    say('setup', 'alice, bob (backend) and carol (qa) registered');

    // 1. Announce: alice claims the session store, bob wants the whole auth folder.
    const scope = { channel: CHANNEL, repo: REPO };
    const a = await alice.ok('mux_claim_announce', {
      agent_id: alice.id,
      paths: ['src/auth/session.ts'],
      depends_on: ['src/db/schema.ts'],
      intent: 'Move sessions to Redis',
      ...scope,
    });
    say(name(alice), `announce src/auth/session.ts -> ${a.body.verdict} (score ${a.body.score})`);
    const b = await bob.ok('mux_claim_announce', { agent_id: bob.id, paths: ['src/auth/**'], intent: 'Rename User.name to User.display_name', ...scope });
    say(name(bob), `announce src/auth/** -> ${b.body.verdict} (score ${b.body.score})`);

    // 2. Detect: bob sees who holds what and why; a thread was opened.
    for (const c of b.body.conflicts)
      say('', `  conflict with ${name({ id: c.agent_id })}: ${c.score} ${c.layer}, "${c.intent}"; ${c.reason.replaceAll(`-${RUN}`, '')}`);
    const thread = b.body.thread;
    say('', `  thread opened (${thread.status}) between ${thread.participants.map((p) => name({ id: p })).join(', ')}`);
    const c = await carol.ok('mux_claim_check', { paths: ['src/db/schema.ts'], agent_id: carol.id, ...scope });
    say(
      name(carol),
      `check src/db/schema.ts -> ${c.body.verdict} (score ${c.body.score}: ${c.body.conflicts.map((x) => `${name({ id: x.agent_id })} ${x.layer}`).join(', ')})`,
    );

    // 3. Negotiate: alice notices the thread by the unread count on her next answer.
    const beat = await alice.ok('mux_heartbeat', { agent_id: alice.id });
    say(name(alice), `heartbeat ${metaOf(beat)}`);
    const inbox = await alice.ok('mux_poll', { agent_id: alice.id, channel: CHANNEL, timeout: 0 });
    say(name(alice), `inbox: ${inbox.body.messages.map((m) => m.content.replace(thread.id, '…').replaceAll(`-${RUN}`, '')).join(' | ')}`);
    await alice.ok('mux_thread_post', {
      thread_id: thread.id,
      agent_id: alice.id,
      kind: 'warning',
      content: 'session.ts serializes User.name; renaming it breaks stored sessions',
    });
    const p1 = await alice.ok('mux_thread_post', {
      thread_id: thread.id,
      agent_id: alice.id,
      kind: 'proposal',
      content: 'I finish the Redis move first; you rename after, with a migration',
    });
    say(name(alice), `proposal -> thread ${p1.body.thread.status}`);
    const contest = await bob.ok('mux_thread_contest', {
      thread_id: thread.id,
      agent_id: bob.id,
      content: 'The rename is smaller; I go first and keep a fallback for old sessions',
    });
    say(name(bob), `contest -> thread ${contest.body.thread.status}`);
    await bob.ok('mux_thread_post', {
      thread_id: thread.id,
      agent_id: bob.id,
      kind: 'proposal',
      content: 'I rename everywhere except session.ts; you adopt display_name in session.ts during the Redis move',
    });
    const approved = await alice.ok('mux_thread_approve', { thread_id: thread.id, agent_id: alice.id });
    say(name(alice), `approve -> thread ${approved.body.thread.status} (${approved.body.thread.resolution.how}): "${approved.body.thread.resolution.text}"`);
    await bob.ok('mux_claim_release', { claim_id: b.body.claim.id, agent_id: bob.id });
    const narrowed = await bob.ok('mux_claim_announce', {
      agent_id: bob.id,
      paths: ['src/auth/user.ts', 'src/auth/profile.ts'],
      intent: 'Rename outside session.ts',
      ...scope,
    });
    say(
      name(bob),
      `re-announce without session.ts -> ${narrowed.body.verdict} (score ${narrowed.body.score}, ${narrowed.body.conflicts.map((x) => x.layer).join(', ')})`,
    );

    // 4. Hand off via a task: bob asks qa to update the tests after the rename.
    const task = await bob.ok('mux_task_post', {
      description: 'Update auth tests for User.display_name',
      posted_by: bob.id,
      required_capability: 'tests',
      channel: CHANNEL,
    });
    const claimed = await carol.ok('mux_task_claim', { agent_id: carol.id, channel: CHANNEL });
    say(name(carol), `task claimed: "${claimed.body.task.description}" (epoch ${claimed.body.lease.epoch})`);
    const tests = await carol.ok('mux_claim_announce', {
      agent_id: carol.id,
      paths: ['test/auth/**'],
      depends_on: ['src/auth/user.ts'],
      intent: 'Tests for the rename',
      ...scope,
    });
    say(
      name(carol),
      `announce test/auth/** -> ${tests.body.verdict} (score ${tests.body.score}: ${tests.body.conflicts.map((x) => `${name({ id: x.agent_id })} ${x.layer}`).join(', ')})`,
    );

    // 5. Share a versioned state key: compare-and-set keeps one writer per version.
    const key = 'auth/user-schema';
    const v1 = await bob.ok('mux_state_set', { key, value: { field: 'display_name' }, expected_version: 0, updated_by: bob.id, channel: CHANNEL });
    say(name(bob), `state ${key} = ${JSON.stringify(v1.body.value)} (version ${v1.body.version})`);
    const v2 = await alice.ok('mux_state_set', {
      key,
      value: { field: 'display_name', sessions: 'redis' },
      expected_version: 1,
      updated_by: alice.id,
      channel: CHANNEL,
    });
    say(name(alice), `state ${key} -> version ${v2.body.version}`);
    const stale = await carol.call('mux_state_set', { key, value: { field: 'name' }, expected_version: 1, updated_by: carol.id, channel: CHANNEL });
    say(name(carol), `stale write (expected_version 1) -> ${stale.error}, current version ${stale.body.current_version}`);
    const done = await carol.ok('mux_task_complete', {
      task_id: task.body.id,
      agent_id: carol.id,
      epoch: claimed.body.lease.epoch,
      result: `Tests pass against schema v${v2.body.version}`,
    });
    say(name(carol), `task ${done.body.status}: ${done.body.result}`);

    // Wrap up: release every claim, close the thread, show the status.
    for (const [agent, claim] of [
      [alice, a.body.claim],
      [bob, narrowed.body.claim],
      [carol, tests.body.claim],
    ])
      await agent.ok('mux_claim_release', { claim_id: claim.id, agent_id: agent.id });
    const closed = await bob.ok('mux_thread_close', { thread_id: thread.id, agent_id: bob.id, content: 'Both changes merged' });
    const status = await carol.ok('mux_status', scope);
    say(
      name(carol),
      `status: ${status.body.claims.length} live claims, ${status.body.hot_paths.length} hot paths, ${status.body.threads.length} open threads (thread ${closed.body.thread.status}); ${metaOf(status)}`,
    );
  } finally {
    await Promise.all([alice, bob, carol].map((agent) => agent.client.close()));
  }
}

main().catch((error) => {
  console.error(`claims-agents: ${error.message}`);
  process.exitCode = 1;
});
