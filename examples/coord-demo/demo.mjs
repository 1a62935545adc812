#!/usr/bin/env node
// Two agents edit overlapping files and settle it in a consultation thread,
// while the dashboard (/ui) shows it live: their states, the thread, its
// participants and the conflict score with every layer. Each agent is an MCP
// SDK client with its own session on the gateway's /mcp, calling
// coord__mux_* tools. Start the gateway (npm start), open
// http://127.0.0.1:3393/ui/, then:
//
//   node examples/coord-demo/demo.mjs            # one step every 1.5 s
//   node examples/coord-demo/demo.mjs --step     # press Enter for each step
//   node examples/coord-demo/demo.mjs --pace 0   # as fast as it goes
//
// STONEGATE_URL points it at another gateway (default http://127.0.0.1:3393);
// STONEGATE_TOKEN is sent as a bearer token when the gateway has [auth]
// tokens (an admin token: both agents act as themselves through it). Each run
// uses its own channel (coord-demo-<RUN_ID>).
import { createInterface } from 'node:readline';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const BASE = (process.env.STONEGATE_URL ?? 'http://127.0.0.1:3393').replace(/\/$/, '');
const TOKEN = process.env.STONEGATE_TOKEN;
const RUN = process.env.RUN_ID ?? Date.now().toString(36);
const CHANNEL = `coord-demo-${RUN}`;
const REPO = 'github.com/acme/shop';
const STEP = process.argv.includes('--step');
const paceAt = process.argv.indexOf('--pace');
const PACE_MS = paceAt === -1 ? 1500 : Number(process.argv[paceAt + 1]);

const authHeaders = TOKEN === undefined ? {} : { authorization: `Bearer ${TOKEN}` };
const say = (who, text) => console.log(`${who.padEnd(6)} ${text}`);

// --step: a line on stdin starts each next step (the dashboard test drives it so).
const lines = STEP ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : undefined;
async function next(title) {
  if (lines !== undefined) {
    console.log(`[enter] next: ${title}`);
    await lines.next();
  } else if (PACE_MS > 0) await new Promise((resolve) => setTimeout(resolve, PACE_MS));
  console.log(`-- ${title}`);
}

/** What reaches an agent unasked, as notices `{id, from, kind, thread_id, content}` (its inbox messages). */
class Notices {
  constructor() {
    this.waiting = [];
    this.seen = [];
    this.ids = new Set();
    this.how = 'nothing yet';
  }

  deliver(notice) {
    if (this.ids.has(notice.id)) return; // a push re-reads the whole inbox
    this.ids.add(notice.id);
    const at = this.waiting.findIndex((w) => w.wanted(notice));
    if (at === -1) this.seen.push(notice);
    else this.waiting.splice(at, 1)[0].resolve(notice);
  }

  /** The first notice (already in or still to come) that `wanted` accepts. */
  told(wanted) {
    const at = this.seen.findIndex(wanted);
    if (at !== -1) return Promise.resolve(this.seen.splice(at, 1)[0]);
    return new Promise((resolve) => this.waiting.push({ wanted, resolve }));
  }
}

/**
 * PUSH (issue #29 item 1): the agent subscribes in its own MCP session to
 * its inbox resource, coord://inbox/{agent}; each
 * notifications/resources/updated is followed by a read of the inbox (which
 * acknowledges nothing). A 2026-era client would name the same URI in
 * subscriptions/listen. False when the gateway does not push (the resource
 * is not there): then the event stream below does it.
 */
async function listenByPush(agent, notices) {
  const uri = `coord://inbox/${agent.id}`;
  try {
    await agent.client.subscribeResource({ uri });
  } catch {
    return false;
  }
  agent.client.setNotificationHandler('notifications/resources/updated', async ({ params }) => {
    if (params.uri !== uri) return;
    const read = await agent.client.readResource({ uri }, { cacheMode: 'bypass' });
    const inbox = JSON.parse(read.contents[0]?.text ?? '{}');
    for (const m of inbox.messages ?? []) notices.deliver({ id: m.id, from: m.from, kind: m.kind, thread_id: m.thread_id, content: m.content });
  });
  return true;
}

/** Without push: the coordination event stream of the channel (GET /coord/events, read with fetch), its messages to the agent. */
async function listenByStream(agent, notices) {
  const response = await fetch(`${BASE}/coord/events?channel=${encodeURIComponent(CHANNEL)}`, {
    headers: { ...authHeaders, accept: 'text/event-stream' },
  });
  if (!response.ok) throw new Error(`${agent.id}: GET /coord/events answered ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ done: true }));
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: ?(.*)$/m.exec(block)?.[1];
        const data = JSON.parse(/^data: ?(.*)$/m.exec(block)?.[1] ?? '{}');
        if (type === 'message' && data.to === agent.id)
          notices.deliver({ id: data.message_id, from: data.from, kind: data.kind ?? 'direct', thread_id: data.thread_id, content: data.content });
      }
    }
  })();
  return () => reader.cancel().catch(() => undefined);
}

/** One agent: its own MCP session on /mcp. */
class Agent {
  constructor(id, client) {
    this.id = id;
    this.client = client;
    this.notices = new Notices();
    this.stopListening = () => undefined;
  }

  static async connect(id) {
    const client = new Client({ name: `coord-demo-${id}`, version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { requestInit: { headers: authHeaders } }));
    return new Agent(id, client);
  }

  /** Starts hearing what concerns the agent (after it registered: the session is then the agent's). */
  async listen() {
    if (await listenByPush(this, this.notices)) this.notices.how = 'push';
    else {
      this.stopListening = await listenByStream(this, this.notices);
      this.notices.how = 'the event stream';
    }
    return this.notices.how;
  }

  /** Calls coord__<tool>, which must succeed; returns its JSON. */
  async ok(tool, args) {
    const result = await this.client.callTool({ name: `coord__${tool}`, arguments: args });
    const body = result.structuredContent ?? {};
    if (result.isError === true) throw new Error(`${this.id}: ${tool} refused: ${body.code}: ${body.error}`);
    return body;
  }

  state(state, more = {}) {
    return this.ok('mux_agent_state', { agent_id: this.id, state, ...more });
  }

  async close() {
    await this.stopListening();
    await this.client.close();
  }
}

/** A thread notice's text without its `[thread <id>]` tag and status tail. */
const noticeText = (n) => n.content.replace(/^\[thread [^\]]+\] /, '').replace(/ \(status: .*$/, '');

async function main() {
  console.log(`gateway ${BASE}/mcp, channel ${CHANNEL}, repo ${REPO}; watch it at ${BASE}/ui/`);
  const [alice, bob] = await Promise.all(['alice', 'bob'].map((id) => Agent.connect(id)));
  const scope = { channel: CHANNEL, repo: REPO };
  try {
    await next('alice and bob register');
    await alice.ok('mux_register', { agent_id: alice.id, role: 'backend', group: 'auth', channel: CHANNEL });
    await alice.state('idle', { current_file: null, current_thread: null }); // a state outlives re-registering (an earlier run)
    const joined = await bob.ok('mux_register', { agent_id: bob.id, role: 'backend', group: 'auth', channel: CHANNEL });
    await bob.state('idle', { current_file: null, current_thread: null });
    say('bob', `registered; peers already there: ${joined.peers.map((p) => `${p.id} (${p.state})`).join(', ')}`);
    const [aliceHears, bobHears] = await Promise.all([alice.listen(), bob.listen()]);
    say('', `alice hears by ${aliceHears}, bob by ${bobHears}`);

    await next('alice starts on the session store');
    await alice.state('working', { current_file: 'src/auth/session.ts' });
    const a = await alice.ok('mux_claim_announce', {
      agent_id: alice.id,
      paths: ['src/auth/session.ts'],
      depends_on: ['src/db/schema.ts'],
      intent: 'Move sessions to Redis',
      ...scope,
    });
    say('alice', `announce src/auth/session.ts -> ${a.verdict} (score ${a.score})`);

    await next('bob wants the whole auth folder');
    await bob.state('working', { current_file: 'src/auth/login.ts' });
    const b = await bob.ok('mux_claim_announce', { agent_id: bob.id, paths: ['src/auth/**'], intent: 'Rename User.name to User.display_name', ...scope });
    say('bob', `announce src/auth/** -> ${b.verdict} (score ${b.score})`);
    // bob is told of the conflict by his claim's answer, with every layer of its score.
    for (const c of b.conflicts) {
      say('', `  conflict with ${c.agent_id}: ${c.score} ${c.layer}, "${c.intent}"`);
      for (const layer of c.breakdown) say('', `    ${layer.layer} ${layer.score}: ${layer.reason}`);
    }
    const thread = b.thread;
    say('', `  thread ${thread.id} opened (${thread.status}) between ${thread.participants.join(', ')}`);
    await bob.state('waiting', { waiting_for: `alice, in thread ${thread.id}`, current_file: null, current_thread: thread.id });

    await next('alice is told and proposes a split');
    // alice asked nothing: the thread's notice reaches her (by push, or the event stream without it).
    const opened = await alice.notices.told((n) => n.kind === 'thread' && n.content.includes('opened a thread'));
    say('alice', `told by ${alice.notices.how}: ${noticeText(opened)}`);
    await alice.state('working', { current_file: 'src/auth/session.ts', current_thread: opened.thread_id });
    const proposal = 'I keep src/auth/session.ts; you rename everywhere else and adopt display_name in session.ts after my move';
    const proposed = await alice.ok('mux_thread_post', { thread_id: opened.thread_id, agent_id: alice.id, kind: 'proposal', content: proposal });
    say('alice', `proposal -> thread ${proposed.thread.status}`);

    await next('bob is told and approves');
    const onTable = await bob.notices.told((n) => n.kind === 'thread' && n.thread_id === thread.id && n.content.includes('(status: proposed'));
    say('bob', `told by ${bob.notices.how}: ${noticeText(onTable)}`);
    const approved = await bob.ok('mux_thread_approve', { thread_id: thread.id, agent_id: bob.id, content: 'Agreed' });
    say('bob', `approve -> thread ${approved.thread.status} (${approved.thread.resolution.how}): "${approved.thread.resolution.text}"`);
    await bob.state('working', { current_file: 'src/auth/user.ts', current_thread: null });
    await alice.state('working', { current_file: 'src/auth/session.ts', current_thread: null });
    say('', `settled; the dashboard shows thread ${thread.id} resolved, with its scores, and both agents working`);
  } finally {
    await Promise.all([alice.close(), bob.close()]);
  }
}

main().then(
  () => process.exit(0), // stdin (--step) would keep the process alive
  (error) => {
    console.error(`coord-demo: ${error.message}`);
    process.exit(1);
  },
);
