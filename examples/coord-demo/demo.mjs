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

/**
 * What an agent is told without asking: for now the coordination event
 * stream (GET /coord/events of the channel, read with fetch), filtered to
 * what concerns the agent.
 *
 * PUSH (issue #29 item 1): once coordination is pushed into MCP sessions,
 * this is where an agent subscribes in its own MCP session instead —
 * resources/subscribe to coord://inbox/{agent} and coord://threads/{id}
 * (notifications/resources/updated) for a 2025-era client, or
 * subscriptions/listen for a 2026-era one — and `told` resolves on those
 * notifications. Nothing else in this script changes.
 */
async function listenForCoordination(agentId) {
  const waiting = [];
  const seen = [];
  const response = await fetch(`${BASE}/coord/events?channel=${encodeURIComponent(CHANNEL)}`, {
    headers: { ...authHeaders, accept: 'text/event-stream' },
  });
  if (!response.ok) throw new Error(`${agentId}: GET /coord/events answered ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const deliver = (event) => {
    const at = waiting.findIndex((w) => w.wanted(event));
    if (at === -1) seen.push(event);
    else waiting.splice(at, 1)[0].resolve(event);
  };
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
        const data = /^data: ?(.*)$/m.exec(block)?.[1];
        if (type !== undefined && data !== undefined) deliver({ type, data: JSON.parse(data) });
      }
    }
  })();
  return {
    /** The first event (already seen or still to come) that `wanted` accepts. */
    told(wanted) {
      const at = seen.findIndex(wanted);
      if (at !== -1) return Promise.resolve(seen.splice(at, 1)[0]);
      return new Promise((resolve) => waiting.push({ wanted, resolve }));
    },
    close: () => reader.cancel().catch(() => undefined),
  };
}

/** One agent: its own MCP session on /mcp. */
class Agent {
  constructor(id, client, inbox) {
    this.id = id;
    this.client = client;
    this.inbox = inbox;
  }

  static async connect(id) {
    const client = new Client({ name: `coord-demo-${id}`, version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { requestInit: { headers: authHeaders } }));
    return new Agent(id, client, await listenForCoordination(id));
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
    await this.inbox.close();
    await this.client.close();
  }
}

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
    // alice asked nothing: the thread reaches her (PUSH: her session's subscription, once item 1 lands).
    const opened = await alice.inbox.told((e) => e.type === 'thread_opened' && e.data.participants.includes(alice.id));
    say('alice', `told: ${opened.data.opened_by} opened "${opened.data.subject}"`);
    await alice.state('working', { current_file: 'src/auth/session.ts', current_thread: thread.id });
    const proposal = 'I keep src/auth/session.ts; you rename everywhere else and adopt display_name in session.ts after my move';
    const proposed = await alice.ok('mux_thread_post', { thread_id: thread.id, agent_id: alice.id, kind: 'proposal', content: proposal });
    say('alice', `proposal -> thread ${proposed.thread.status}`);

    await next('bob is told and approves');
    const onTable = await bob.inbox.told((e) => e.type === 'thread_status' && e.data.thread_id === thread.id && e.data.to === 'proposed');
    say('bob', `told: thread ${onTable.data.from} -> ${onTable.data.to} by ${onTable.data.by}`);
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
