// The dashboard's coordination section (issue #29 item 4): every channel
// with its agents (state, what a waiting agent waits for, current file and
// thread), its threads with participants and the conflict scores between
// their claims (every layer of the score), its live claims, open tasks and
// latest messages. It reads GET /coord/board once, then follows
// GET /coord/events from the board's last_event_id and reads a channel's
// board again only when an event of that channel arrives — no polling. The
// stream is read with fetch (EventSource cannot send the token) and resumes
// after the last event id when it drops. What the token may not see (other
// agents' threads and messages) is left out by the gateway, on the board and
// on the stream alike. Everything is put into the page as text, never HTML.

const TOKEN_KEY = 'stonegate.token';
/** ms before reconnecting a dropped stream (as EventSource's retry). */
const RETRY_MS = 2000;
/** Thread messages kept per thread, from the stream. */
const THREAD_MESSAGES = 6;
/** ms at least between two board reads: a busy channel's events are folded into one read, not one read each. */
const MIN_GAP_MS = 250;
/** Events that change nothing the section shows (state keys are not on it). */
const UNSHOWN = new Set(['state_changed']);

const $ = (id) => document.getElementById(id);

/** Channel name → its board (GET /coord/board). */
const channels = new Map();
/** Thread id → its latest messages seen on the stream (the board carries none). */
const threadMessages = new Map();
/** Thread id → the last scores seen while its claims were live (kept once a claim ends). */
const lastScores = new Map();
let viewer = null;
let lastEventId = 0;
/** The threads of the last render. */
let onBoard = new Set();
/** Each (re)start aborts the previous stream and drops stale answers. */
let session = { generation: 0, controller: new AbortController() };

function headers(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY) ?? '';
  return token === '' ? extra : { ...extra, authorization: `Bearer ${token}` };
}

/** Builds an element with text (never HTML), an optional class, data attributes and children. */
function el(tag, text, className, children = [], data = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  for (const [key, value] of Object.entries(data)) node.dataset[key] = value ?? '';
  for (const child of children) if (child) node.append(child);
  return node;
}

function pill(text, state = text) {
  return el('span', text, `pill state-${String(state).replace(/_/g, '-')}`);
}

function streamState(text) {
  $('coord-stream').textContent = text;
}

/** GET a board; null when coordination is off (404) or this token may not use coord (401, 403). */
async function readBoard(query, signal) {
  const response = await fetch(`/coord/board${query}`, { headers: headers(), signal });
  if (response.status === 404 || response.status === 401 || response.status === 403) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

// One board read at a time: events that arrive meanwhile mark their channel, read once after it.
const dirty = new Set();
let draining = false;
const ALL = '\u0000all';

function schedule(channel) {
  dirty.add(channel ?? ALL);
  if (!draining) void drain(session);
}

let lastRead = 0;

async function drain(current) {
  draining = true;
  try {
    while (dirty.size > 0 && current === session) {
      const wait = lastRead + MIN_GAP_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      lastRead = Date.now();
      const names = dirty.has(ALL) ? [ALL] : [...dirty];
      dirty.clear();
      for (const name of names) {
        const board = await readBoard(name === ALL ? '' : `?channel=${encodeURIComponent(name)}`, current.controller.signal);
        if (current !== session) return;
        if (board === null) return hide();
        if (name === ALL) channels.clear();
        for (const channel of board.channels) channels.set(channel.name, channel);
      }
      render();
    }
  } catch (error) {
    if (current === session) streamState(`(board: ${error.message})`);
  } finally {
    draining = false;
  }
}

function hide() {
  $('coord-panel').hidden = true;
  session.controller.abort();
}

function onEvent(type, data) {
  if (type === 'thread_message' && typeof data.thread_id === 'string') {
    const list = threadMessages.get(data.thread_id) ?? [];
    list.push(data);
    if (list.length > THREAD_MESSAGES) list.shift();
    threadMessages.set(data.thread_id, list);
  }
  if (UNSHOWN.has(type)) return;
  // A trimmed or reset stream may have missed anything: read every channel again.
  schedule(type === 'events_trimmed' ? null : data.channel);
}

/** Reads GET /coord/events after lastEventId with fetch and a stream reader; reconnects after RETRY_MS. */
async function follow(current) {
  while (current === session) {
    try {
      const response = await fetch(`/coord/events?after=${lastEventId}`, {
        headers: headers({ accept: 'text/event-stream' }),
        signal: current.controller.signal,
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        streamState(`(${body.code ?? response.status}: ${body.error ?? 'stream refused'})`);
      } else {
        streamState('(live)');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end = buffer.indexOf('\n\n');
          while (end !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = /^id: ?(\d+)$/m.exec(block)?.[1];
            const type = /^event: ?(.*)$/m.exec(block)?.[1];
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).replace(/^ /, ''))
              .join('\n');
            if (id !== undefined) lastEventId = Number(id);
            if (type !== undefined && data !== '' && current === session) onEvent(type, JSON.parse(data));
            end = buffer.indexOf('\n\n');
          }
        }
        streamState('(reconnecting…)');
      }
    } catch (error) {
      if (current !== session) return;
      streamState(`(disconnected: ${error.message})`);
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/** (Re)starts the section: the whole board, then the stream after its last event. */
async function start() {
  session.controller.abort();
  session = { generation: session.generation + 1, controller: new AbortController() };
  const current = session;
  dirty.clear();
  try {
    const board = await readBoard('', current.controller.signal);
    if (current !== session) return;
    if (board === null) return hide();
    viewer = board.viewer;
    lastEventId = board.last_event_id;
    channels.clear();
    for (const channel of board.channels) channels.set(channel.name, channel);
    $('coord-panel').hidden = false;
    render();
    void follow(current);
  } catch (error) {
    if (current === session) streamState(`(board: ${error.message})`);
  }
}

// ---- rendering -------------------------------------------------------------

/** An agent, its thread named by subject when the thread is on the board (`subjects`: thread id → subject). */
function agentItem(a, subjects) {
  const details = [];
  if (a.waiting_for) details.push(`${a.state === 'blocked' ? 'blocked on' : 'waiting for'} ${a.waiting_for}`);
  if (a.current_file) details.push(`file ${a.current_file}`);
  if (a.current_thread) details.push(`thread ${subjects.get(a.current_thread) ?? a.current_thread}`);
  return el(
    'li',
    undefined,
    undefined,
    [
      el('b', a.id),
      el('span', ` (${a.role}${a.group ? `, ${a.group}` : ''}) `),
      pill(a.state),
      a.status === 'stale' ? el('span', ' stale', 'muted') : null,
      details.length > 0 ? el('div', details.join(' · '), 'coord-detail') : null,
    ],
    { agent: a.id, state: a.state, status: a.status, file: a.current_file, thread: a.current_thread },
  );
}

function scoreItem(s) {
  const layers = el(
    'ul',
    undefined,
    'coord-layers',
    s.breakdown.map((b) =>
      el('li', undefined, undefined, [el('code', `${b.layer} ${b.score}`), el('span', ` ${b.reason}`)], { layer: b.layer, score: String(b.score) }),
    ),
  );
  const head = `${s.by_agent_id} ↔ ${s.agent_id}: ${s.score} ${s.layer}${s.stale ? ' (stale holder: counts for nothing)' : ''}`;
  return el('li', undefined, undefined, [el('span', head, 'coord-score'), layers], { score: String(s.score), layer: s.layer, agent: s.agent_id });
}

function threadItem(t) {
  let scores = t.scores;
  if (scores.length > 0) lastScores.set(t.id, scores);
  const kept = scores.length === 0 ? lastScores.get(t.id) : undefined;
  if (kept !== undefined) scores = kept;
  const participants = t.participants.map((p) => (t.approvals.includes(p) ? `${p} ✓` : p)).join(', ');
  const children = [
    el('div', undefined, 'coord-thread-head', [el('b', t.subject), el('span', ' '), pill(t.status)]),
    el('div', `participants: ${participants}`, 'coord-participants'),
  ];
  if (t.paths.length > 0) children.push(el('div', `paths: ${t.paths.join(', ')}`, 'coord-detail'));
  if (scores.length > 0) {
    children.push(el('div', kept === undefined ? 'scores' : 'scores (as last seen: a claim has ended)', 'coord-detail'));
    children.push(el('ul', undefined, 'coord-scores', scores.map(scoreItem)));
  } else children.push(el('div', 'scores: fewer than two of its claims are live', 'coord-detail muted'));
  if (t.proposal) children.push(el('div', `proposal by ${t.proposal.by}: ${t.proposal.text}`, 'coord-proposal'));
  if (t.resolution) children.push(el('div', `resolved (${t.resolution.how})${t.resolution.text ? `: ${t.resolution.text}` : ''}`, 'coord-resolution'));
  const seen = threadMessages.get(t.id) ?? [];
  if (seen.length > 0)
    children.push(
      el(
        'ol',
        undefined,
        'coord-thread-messages',
        seen.map((m) => el('li', `${m.agent_id ?? 'server'} (${m.kind}): ${m.content}`)),
      ),
    );
  return el('li', undefined, 'coord-thread', children, { thread: t.id, status: t.status, participants: t.participants.join(',') });
}

function claimItem(c) {
  const until = c.expires_at ? `, until ${new Date(c.expires_at).toLocaleTimeString()}` : '';
  const text = `${c.agent_id}: ${c.paths.join(', ')}${c.exclusive ? ' (exclusive)' : ''}${c.intent ? ` — ${c.intent}` : ''}${until}${c.stale ? ' (stale)' : ''}`;
  return el('li', text, undefined, [], { claim: c.id, agent: c.agent_id });
}

function box(title, className, items, empty) {
  const list = el('ul', undefined, className, items.length > 0 ? items : [el('li', empty, 'muted')]);
  return el('div', undefined, `${className}-box`, [el('h4', title), list]);
}

function channelSection(ch) {
  const open = ch.threads.filter((t) => t.status === 'open' || t.status === 'proposed').length;
  const summary = `${ch.agents.length} agents · ${open} open threads · ${ch.claims.length} claims · ${ch.tasks.length} open tasks`;
  const empty = ch.agents.length + ch.threads.length + ch.claims.length + ch.tasks.length + ch.messages.length === 0;
  const head = el('h3', ch.name, undefined, [el('small', ` ${ch.description ? `${ch.description} · ` : ''}${empty ? 'nothing yet' : summary}`)]);
  const section = el('section', undefined, 'coord-channel', [head], { channel: ch.name });
  if (empty) return section;
  section.append(
    el('div', undefined, 'coord-grid', [
      box(
        'Agents',
        'coord-agents',
        ch.agents.map((a) => agentItem(a, new Map(ch.threads.map((t) => [t.id, `"${t.subject}"`])))),
        'none',
      ),
      box('Threads', 'coord-threads', ch.threads.map(threadItem), viewer ? `none that ${viewer} takes part in` : 'none'),
      box('Claims', 'coord-claims', ch.claims.map(claimItem), 'none'),
      box(
        'Open tasks',
        'coord-tasks',
        ch.tasks.map((t) => el('li', `${t.status === 'claimed' ? `[${t.claimed_by}] ` : ''}${t.description}`, undefined, [], { task: t.id })),
        'none',
      ),
      box(
        'Recent messages',
        'coord-messages',
        ch.messages.map((m) =>
          el('li', `${m.from} → ${m.to ?? (m.group ? `group ${m.group}` : 'all')}: ${m.content}`, undefined, [], { message: String(m.id) }),
        ),
        viewer ? `none to or from ${viewer}` : 'none',
      ),
    ]),
  );
  return section;
}

function render() {
  const all = [...channels.values()].sort((a, b) => (a.name === 'default' ? -1 : b.name === 'default' ? 1 : a.name.localeCompare(b.name)));
  const agents = all.flatMap((c) => c.agents);
  const count = (state) => agents.filter((a) => a.state === state).length;
  const threads = all.flatMap((c) => c.threads).filter((t) => t.status === 'open' || t.status === 'proposed').length;
  $('coord-summary').textContent =
    `${all.length} channels · ${agents.length} agents (${count('working')} working, ${count('waiting')} waiting, ${count('blocked')} blocked, ${count('idle')} idle) · ${threads} open threads${viewer ? ` · as ${viewer}` : ''}`;
  // What is kept per thread goes with the thread when it leaves the board (closed, cancelled);
  // a thread not on it yet keeps what the stream brought before the board caught up.
  const shown = new Set(all.flatMap((c) => c.threads.map((t) => t.id)));
  for (const id of onBoard) if (!shown.has(id)) for (const kept of [threadMessages, lastScores]) kept.delete(id);
  onBoard = shown;
  $('coord-channels').replaceChildren(...all.map(channelSection));
}

// The token form is app.js's: once it stored a new token, start again with it.
$('token-form').addEventListener('submit', () => queueMicrotask(start));
start();
