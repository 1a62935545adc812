import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { agentList, MAX_LIST, pathList, repoName, requiredText } from '../claim-validate.js';
import { CoordError } from '../errors.js';
import type {
  GetThreadInput,
  OpenThreadInput,
  SendInput,
  Thread,
  ThreadActionInput,
  ThreadListQuery,
  ThreadMessage,
  ThreadMessageKind,
  ThreadStatus,
  ThreadUpdates,
  ThreadUpdatesInput,
  ThreadView,
} from '../types.js';
import { channelName, ident, iso, isoOrNull, pageSize, position } from '../validate.js';
import { parseJson, type SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';
import { sweepOnce, sweepTimer } from './sweep.js';

interface ThreadRow {
  seq: number;
  id: string;
  channel: string;
  repo: string;
  subject: string;
  opened_by: string;
  participants: string;
  claim_ids: string;
  paths: string;
  status: ThreadStatus;
  proposal: string | null;
  proposal_by: string | null;
  proposal_message: number | null;
  approvals: string;
  resolution: string | null;
  resolved_how: 'consensus' | 'timeout' | null;
  resolved_at: number | null;
  created_at: number;
  updated_at: number;
  auto_resolve_at: number | null;
}

interface MessageRow {
  id: number;
  thread_id: string;
  agent_id: string | null;
  kind: ThreadMessageKind;
  content: string;
  created_at: number;
}

/** What a new thread needs once its inputs are checked. */
export interface ThreadSpec {
  opener: string;
  others: string[];
  subject: string;
  paths: string[];
  claimIds: string[];
  channel: string;
  repo: string;
  /** The first message (kind "opened"). */
  note: string;
}

/** Sends a direct message (its answer or a promise of it); how a thread reaches the inboxes of its registered participants. */
export type SendNotice = (input: SendInput) => unknown;

const ACTIONS: ReadonlySet<string> = new Set(['post', 'approve', 'contest', 'close', 'cancel']);
const POST_KINDS: ReadonlySet<string> = new Set(['context', 'warning', 'question', 'proposal']);
const LIVE: ReadonlySet<ThreadStatus> = new Set(['open', 'proposed']);
const ENDED: ReadonlySet<ThreadStatus> = new Set(['closed', 'cancelled']);
/** Characters of a thread message quoted in an inbox notice. */
const NOTICE_QUOTE = 300;

/**
 * Consultation threads (mcp-coordinator's consult step). States:
 * open → proposed (a "proposal" post) → resolved (every participant approved,
 * or thread_timeout passed without activity) → closed; contest sends a
 * proposed or resolved thread back to open; cancel ends any thread that has
 * not ended. Every action is a thread message and a thread_message event
 * (plus thread_status when the state moves), committed with the change;
 * afterwards the other participants registered in the channel get a direct
 * message, so the unread count in every tool answer shows it.
 */
export class SqliteThreads {
  private readonly insert: Statement<[Record<string, unknown>]>;
  private readonly update: Statement<[Record<string, unknown>]>;
  private readonly join: Statement<[string, string]>;
  private readonly addMessage: Statement<[string, string | null, string, string, number]>;
  private readonly byId: Statement<[string], ThreadRow>;
  private readonly messagesAfter: Statement<[string, number, number], MessageRow>;
  private readonly lapsed: Statement<[number], ThreadRow>;
  private readonly anyLapsed: Statement<[number], { one: number }>;
  private readonly updatesOf: Statement<[string, number, string | null, string | null, number], MessageRow>;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ctx: SqliteContext,
    private readonly events: SqliteEvents,
    private readonly send: SendNotice,
  ) {
    const { db } = ctx;
    this.insert = db.prepare(
      `INSERT INTO threads (id, channel, repo, subject, opened_by, participants, claim_ids, paths, status, approvals, created_at, updated_at, auto_resolve_at)
       VALUES (@id, @channel, @repo, @subject, @opened_by, @participants, @claim_ids, @paths, 'open', '[]', @at, @at, @auto_resolve_at)`,
    );
    this.update = db.prepare(
      `UPDATE threads SET status = @status, proposal = @proposal, proposal_by = @proposal_by, proposal_message = @proposal_message,
         approvals = @approvals, resolution = @resolution, resolved_how = @resolved_how, resolved_at = @resolved_at,
         updated_at = @updated_at, auto_resolve_at = @auto_resolve_at WHERE id = @id`,
    );
    this.join = db.prepare('INSERT OR IGNORE INTO thread_participants (agent_id, thread_id) VALUES (?, ?)');
    this.addMessage = db.prepare('INSERT INTO thread_messages (thread_id, agent_id, kind, content, created_at) VALUES (?, ?, ?, ?, ?)');
    this.byId = db.prepare('SELECT * FROM threads WHERE id = ?');
    this.messagesAfter = db.prepare('SELECT * FROM thread_messages WHERE thread_id = ? AND id > ? ORDER BY id LIMIT ?');
    this.lapsed = db.prepare(`SELECT * FROM threads WHERE status IN ('open', 'proposed') AND auto_resolve_at <= ? ORDER BY seq`);
    this.anyLapsed = db.prepare(`SELECT 1 AS one FROM threads WHERE status IN ('open', 'proposed') AND auto_resolve_at <= ? LIMIT 1`);
    this.updatesOf = db.prepare(
      `SELECT m.* FROM thread_participants p
         JOIN thread_messages m ON m.thread_id = p.thread_id
         JOIN threads t ON t.id = p.thread_id
       WHERE p.agent_id = ? AND m.id > ? AND (? IS NULL OR t.channel = ?)
       ORDER BY m.id LIMIT ?`,
    );
    this.sweeper = sweepTimer(ctx.options.thread_timeout, () => this.sweep());
  }

  /** Opens a thread on request. */
  async open(input: OpenThreadInput): Promise<Thread> {
    const opener = ident(input.agent_id, 'agent_id');
    const others = agentList(input.participants ?? [], 'participants', opener);
    if (others.length === 0) throw new CoordError('BAD_REQUEST', 'participants names no agent besides you; list the agents to consult.');
    const spec: ThreadSpec = {
      opener,
      others,
      subject: requiredText(input.subject, 'Thread subject'),
      paths: pathList(input.paths, 'paths'),
      claimIds: (input.claim_ids ?? []).slice(0, MAX_LIST).map((id) => ident(id, 'claim_ids entry')),
      channel: channelName(input.channel),
      repo: repoName(input.repo),
      note: input.subject,
    };
    const thread = this.ctx.db.transaction(() => this.openIn(spec, this.ctx.now())).immediate();
    await this.notify(thread, opener, `opened a thread: ${spec.subject}`);
    return thread;
  }

  /** Inside the caller's transaction: creates the thread, its participants and its first message, with events. */
  openIn(spec: ThreadSpec, at: number): Thread {
    const id = randomUUID();
    const participants = [spec.opener, ...spec.others];
    this.ctx.ensureChannel(spec.channel, spec.opener, at);
    this.insert.run({
      id, channel: spec.channel, repo: spec.repo, subject: spec.subject, opened_by: spec.opener,
      participants: JSON.stringify(participants), claim_ids: JSON.stringify(spec.claimIds), paths: JSON.stringify(spec.paths),
      at, auto_resolve_at: at + this.ctx.options.thread_timeout * 1000,
    });
    for (const agent of participants) this.join.run(agent, id);
    this.ctx.appendEvent('thread_opened', spec.channel, { thread_id: id, repo: spec.repo, subject: spec.subject, opened_by: spec.opener, participants, paths: spec.paths, claim_ids: spec.claimIds }, at);
    this.record(id, spec.channel, spec.opener, 'opened', spec.note, at);
    return toThread(this.mustGet(id));
  }

  /** Post, approve, contest, close or cancel; returns the thread and the message the action added. */
  async act(input: ThreadActionInput): Promise<ThreadView> {
    const threadId = ident(input.thread_id, 'thread_id');
    const agent = ident(input.agent_id, 'agent_id');
    if (!ACTIONS.has(input.action)) throw new CoordError('BAD_REQUEST', `Thread action '${String(input.action)}' is not one of ${[...ACTIONS].join(', ')}.`);
    const kind = input.action === 'post' ? (input.kind ?? 'context') : input.action;
    if (!POST_KINDS.has(kind) && input.action === 'post') throw new CoordError('BAD_REQUEST', `Post kind '${kind}' is not one of ${[...POST_KINDS].join(', ')}.`);
    const content = input.action === 'post' || input.action === 'contest' ? requiredText(input.content, input.action === 'post' ? 'Message' : 'Reason for contesting') : (input.content ?? '');
    if (content !== '') requiredText(content, 'Message');
    this.sweep(); // a lapsed thread resolves first, in its own transaction
    const view = this.ctx.db
      .transaction((): ThreadView => {
        const at = this.ctx.now();
        const row = this.mustGet(threadId);
        const participants = parseJson<string[]>(row.participants);
        this.requireParticipant(row, participants, agent, false);
        if (ENDED.has(row.status)) throw this.refuse(row, `is ${row.status}; nothing more can happen in it. Open a new thread (mux_thread_open) if there is more to settle.`);
        const next = this.transition(row, participants, agent, kind, content, at);
        const messageId = this.record(threadId, row.channel, agent, kind, content, at);
        if (kind === 'proposal') next.proposal_message = messageId;
        this.update.run(next);
        if (next.status !== row.status) this.ctx.appendEvent('thread_status', row.channel, { thread_id: threadId, from: row.status, to: next.status, action: kind, by: agent }, at);
        const message = this.messagesAfter.get(threadId, messageId - 1, 1);
        return { thread: toThread(this.mustGet(threadId)), messages: message === undefined ? [] : [toMessage(message)] };
      })
      .immediate();
    await this.notify(view.thread, agent, `${kind}${content === '' ? '' : `: ${content}`}`);
    return view;
  }

  get(input: GetThreadInput): ThreadView {
    const row = this.mustGet(ident(input.thread_id, 'thread_id'));
    this.sweep();
    const agent = ident(input.agent_id, 'agent_id');
    this.requireParticipant(row, parseJson<string[]>(row.participants), agent, true);
    const messages = this.messagesAfter.all(row.id, position(input.after, 'after') ?? 0, 1000).map(toMessage);
    return { thread: toThread(this.mustGet(row.id)), messages };
  }

  list(query: ThreadListQuery): Thread[] {
    this.sweep();
    const clauses = ['t.channel = @channel'];
    const params: Record<string, string | number> = { channel: channelName(query.channel), limit: pageSize(query.limit) };
    if (query.repo !== undefined) {
      clauses.push('t.repo = @repo');
      params.repo = repoName(query.repo);
    }
    if (query.status !== undefined) {
      clauses.push('t.status = @status');
      params.status = query.status;
    }
    if (query.agent_id !== undefined) {
      clauses.push('t.id IN (SELECT thread_id FROM thread_participants WHERE agent_id = @agent)');
      params.agent = ident(query.agent_id, 'agent_id');
    }
    const sql = `SELECT t.* FROM threads t WHERE ${clauses.join(' AND ')} ORDER BY t.updated_at DESC, t.seq DESC LIMIT @limit`;
    return (this.ctx.db.prepare(sql).all(params) as ThreadRow[]).map(toThread);
  }

  /** Threads that have not ended (open, proposed, resolved) in a scope, newest activity first. */
  active(channel: string, repo: string | null): Thread[] {
    return this.list({ channel, repo: repo ?? undefined, limit: 1000 }).filter((t) => !ENDED.has(t.status));
  }

  updates(input: ThreadUpdatesInput): ThreadUpdates {
    this.sweep();
    const agent = ident(input.agent_id, 'agent_id');
    const after = position(input.after, 'after') ?? 0;
    const limit = pageSize(input.limit);
    const channel = input.channel === undefined ? null : channelName(input.channel);
    const rows = this.updatesOf.all(agent, after, channel, channel, limit + 1);
    const page = rows.slice(0, limit);
    const ids = [...new Set(page.map((m) => m.thread_id))];
    return {
      agent_id: agent,
      messages: page.map(toMessage),
      threads: ids.map((id) => toThread(this.mustGet(id))),
      next_after: page[page.length - 1]?.id ?? after,
      has_more: rows.length > limit,
    };
  }

  /** Resolves threads idle past thread_timeout, in its own transaction. */
  sweep(): void {
    sweepOnce(this.ctx, this.events, (at) => this.anyLapsed.get(at) !== undefined, (at) => {
      const rows = this.lapsed.all(at);
      for (const row of rows) {
        const proposal = row.status === 'proposed' ? row.proposal : null;
        const next = base(row, at);
        Object.assign(next, { status: 'resolved', resolution: proposal, resolved_how: 'timeout', resolved_at: at, auto_resolve_at: null });
        this.update.run(next);
        const note = `No agreement or objection within ${this.ctx.options.thread_timeout} s; resolved by timeout${proposal === null ? '' : ` with the proposal on the table: ${proposal}`}.`;
        this.record(row.id, row.channel, null, 'auto_resolved', note, at);
        this.ctx.appendEvent('thread_status', row.channel, { thread_id: row.id, from: row.status, to: 'resolved', action: 'auto_resolved', by: null }, at);
      }
      return rows.length;
    });
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** The row after `kind` by `agent`, or a CONFLICT when the state does not allow it. */
  private transition(row: ThreadRow, participants: string[], agent: string, kind: ThreadMessageKind, content: string, at: number): Record<string, unknown> {
    const next = base(row, at);
    const approvals = new Set(parseJson<string[]>(row.approvals));
    switch (kind) {
      case 'proposal':
        if (!LIVE.has(row.status)) throw this.refuse(row, `is ${row.status}; contest it first to reopen it, then propose.`);
        Object.assign(next, { status: 'proposed', proposal: content, proposal_by: agent, approvals: JSON.stringify([agent]) });
        break;
      case 'approve':
        if (row.status !== 'proposed') throw this.refuse(row, `is ${row.status} with no proposal to approve; post one with kind "proposal".`);
        approvals.add(agent);
        next.approvals = JSON.stringify([...approvals]);
        if (participants.every((p) => approvals.has(p))) Object.assign(next, { status: 'resolved', resolution: row.proposal, resolved_how: 'consensus', resolved_at: at });
        break;
      case 'contest':
        if (row.status !== 'proposed' && row.status !== 'resolved') throw this.refuse(row, `is ${row.status}; there is no proposal or resolution to contest. Post a warning or a proposal instead.`);
        Object.assign(next, { status: 'open', proposal: null, proposal_by: null, proposal_message: null, approvals: '[]', resolution: null, resolved_how: null, resolved_at: null });
        break;
      case 'close':
      case 'cancel':
        next.status = kind === 'close' ? 'closed' : 'cancelled';
        break;
      default:
        break; // context, warning, question: a message, no state change
    }
    next.auto_resolve_at = LIVE.has(next.status as ThreadStatus) ? at + this.ctx.options.thread_timeout * 1000 : null;
    return next;
  }

  private record(threadId: string, channel: string, agent: string | null, kind: ThreadMessageKind, content: string, at: number): number {
    const id = Number(this.addMessage.run(threadId, agent, kind, content, at).lastInsertRowid);
    this.ctx.appendEvent('thread_message', channel, { thread_id: threadId, message_id: id, agent_id: agent, kind, content }, at);
    return id;
  }

  /**
   * After a commit: wakes event readers and tells the other participants
   * registered in the channel. Resolves once the notices are stored, so an
   * action's answer comes after the others' unread counts show it.
   */
  async notify(thread: Thread, by: string, what: string): Promise<void> {
    this.events.committed();
    const quoted = what.length > NOTICE_QUOTE ? `${what.slice(0, NOTICE_QUOTE)}…` : what;
    const content = `[thread ${thread.id}] ${by} ${quoted} (status: ${thread.status}; mux_thread_get for the whole thread)`;
    const others = thread.participants.filter((to) => to !== by);
    await Promise.all(
      others.map(async (to) => {
        try {
          await this.send({ from: by, to, content, channel: thread.channel });
        } catch (error) {
          // Participants need not be registered (claims do not require it);
          // the thread and its events hold everything the notice said.
          this.ctx.logger?.debug({ thread_id: thread.id, to, error: String(error) }, 'thread notice not delivered');
        }
      }),
    );
  }

  private requireParticipant(row: ThreadRow, participants: string[], agent: string, adminMayRead: boolean): void {
    if (participants.includes(agent) || (adminMayRead && this.ctx.options.claim_admins.includes(agent))) return;
    throw new CoordError('FORBIDDEN', `Agent '${agent}' is not a participant of thread ${row.id} (participants: ${participants.join(', ')}); only they can read and act in it.`, {
      thread_id: row.id,
      participants,
    });
  }

  private refuse(row: ThreadRow, why: string): CoordError {
    return new CoordError('CONFLICT', `Thread ${row.id} ${why}`, { thread_id: row.id, status: row.status });
  }

  private mustGet(threadId: string): ThreadRow {
    const row = this.byId.get(threadId);
    if (row === undefined) throw new CoordError('UNKNOWN_THREAD', `No thread with id '${threadId}'; mux_thread_list shows the threads of a channel.`, { thread_id: threadId });
    return row;
  }
}

/** The update parameters that keep a row as it is, touched at `at`. */
function base(row: ThreadRow, at: number): Record<string, unknown> {
  return {
    id: row.id, status: row.status, proposal: row.proposal, proposal_by: row.proposal_by, proposal_message: row.proposal_message,
    approvals: row.approvals, resolution: row.resolution, resolved_how: row.resolved_how, resolved_at: row.resolved_at,
    updated_at: at, auto_resolve_at: row.auto_resolve_at,
  };
}

function toThread(row: ThreadRow): Thread {
  return {
    id: row.id,
    channel: row.channel,
    repo: row.repo,
    subject: row.subject,
    opened_by: row.opened_by,
    participants: parseJson<string[]>(row.participants),
    claim_ids: parseJson<string[]>(row.claim_ids),
    paths: parseJson<string[]>(row.paths),
    status: row.status,
    proposal: row.proposal === null || row.proposal_by === null ? null : { text: row.proposal, by: row.proposal_by, message_id: row.proposal_message ?? 0 },
    approvals: parseJson<string[]>(row.approvals),
    resolution: row.resolved_how === null || row.resolved_at === null ? null : { text: row.resolution, how: row.resolved_how, at: iso(row.resolved_at) },
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    auto_resolve_at: isoOrNull(row.auto_resolve_at),
  };
}

function toMessage(row: MessageRow): ThreadMessage {
  return { id: row.id, thread_id: row.thread_id, agent_id: row.agent_id, kind: row.kind, content: row.content, at: iso(row.created_at) };
}
