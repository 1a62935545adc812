import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { repoName } from '../claim-validate.js';
import { sweepTimer } from '../sweep-timer.js';
import {
  assertCanAct,
  assertReferences,
  checkedAction,
  conflictKey,
  ENDED,
  openedEvent,
  requireParticipant,
  type SendNotice,
  sendNotices,
  type ThreadMessageRow,
  type ThreadRow,
  type ThreadSpec,
  type ThreadUpdate,
  threadToOpen,
  timeoutResolution,
  toThread,
  toThreadMessage,
  transition,
  unknownThread,
} from '../thread-rules.js';
import type {
  GetThreadInput,
  OpenThreadInput,
  Thread,
  ThreadActionInput,
  ThreadListQuery,
  ThreadMessageKind,
  ThreadUpdates,
  ThreadUpdatesInput,
  ThreadView,
} from '../types.js';
import { channelName, ident, pageSize, position } from '../validate.js';
import { parseJson, type SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';
import { sweepOnce } from './sweep.js';

/**
 * Consultation threads (mcp-coordinator's consult step; the state machine is
 * in thread-rules.ts). Every action is a thread message and a thread_message event
 * (plus thread_status when the state moves), committed with the change;
 * afterwards the other participants registered in the channel get a direct
 * message, so the unread count in every tool answer shows it.
 */
export class SqliteThreads {
  private readonly insert: Statement<[Record<string, unknown>]>;
  private readonly update: Statement<[ThreadUpdate]>;
  private readonly join: Statement<[string, string]>;
  private readonly addMessage: Statement<[string, string | null, string, string, number]>;
  private readonly byId: Statement<[string], ThreadRow>;
  private readonly messagesAfter: Statement<[string, number, number], ThreadMessageRow>;
  private readonly lapsed: Statement<[number], ThreadRow>;
  private readonly anyLapsed: Statement<[number], { one: number }>;
  private readonly updatesOf: Statement<[string, number, string | null, string | null, number], ThreadMessageRow>;
  private readonly liveByKey: Statement<[string], ThreadRow>;
  private readonly liveOfClaim: Statement<[string], ThreadRow>;
  private readonly channelOf: Statement<[string], { channel: string }>;
  private readonly claimExists: Statement<[string], { one: number }>;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ctx: SqliteContext,
    private readonly events: SqliteEvents,
    private readonly send: SendNotice,
  ) {
    const { db } = ctx;
    this.insert = db.prepare(
      `INSERT INTO threads (id, channel, repo, subject, opened_by, participants, claim_ids, paths, status, approvals, created_at, updated_at, auto_resolve_at, conflict_key)
       VALUES (@id, @channel, @repo, @subject, @opened_by, @participants, @claim_ids, @paths, 'open', '[]', @at, @at, @auto_resolve_at, @conflict_key)`,
    );
    this.liveByKey = db.prepare(`SELECT * FROM threads WHERE conflict_key = ? AND status IN ('open', 'proposed', 'resolved')`);
    this.liveOfClaim = db.prepare(`SELECT * FROM threads WHERE claim_ids LIKE ? AND status IN ('open', 'proposed', 'resolved') ORDER BY seq DESC LIMIT 1`);
    this.channelOf = db.prepare('SELECT channel FROM agents WHERE id = ?');
    this.claimExists = db.prepare('SELECT 1 AS one FROM work_claims WHERE id = ?');
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

  /** Opens a thread on request; the live thread about the same claims when there is one. */
  async open(input: OpenThreadInput): Promise<Thread> {
    const spec = threadToOpen(input, this.ctx.options);
    const opened = this.ctx.db
      .transaction(() => {
        assertReferences(
          spec,
          (agent) => this.channelOf.get(agent)?.channel ?? null,
          (claimId) => this.claimExists.get(claimId) !== undefined,
        );
        return this.openIn(spec, this.ctx.now());
      })
      .immediate();
    if (opened.created) await this.notify(opened.thread, spec.opener, `opened a thread: ${spec.subject}`);
    return opened.thread;
  }

  /** The newest thread about `claimId` that has not ended, or null. */
  liveThreadOf(claimId: string): Thread | null {
    const row = this.liveOfClaim.get(`%${JSON.stringify(claimId)}%`);
    return row === undefined ? null : toThread(row);
  }

  /**
   * Inside the caller's transaction: creates the thread, its participants and
   * its first message, with events — unless a thread about the same claims
   * has not ended (one live thread per conflict): then that one, not created.
   */
  openIn(spec: ThreadSpec, at: number): { thread: Thread; created: boolean } {
    const key = conflictKey(spec.claimIds);
    const live = key === null ? undefined : this.liveByKey.get(key);
    if (live !== undefined) return { thread: toThread(live), created: false };
    const id = randomUUID();
    const participants = [spec.opener, ...spec.others];
    this.ctx.ensureChannel(spec.channel, spec.opener, at);
    this.insert.run({
      id,
      channel: spec.channel,
      repo: spec.repo,
      subject: spec.subject,
      opened_by: spec.opener,
      participants: JSON.stringify(participants),
      claim_ids: JSON.stringify(spec.claimIds),
      paths: JSON.stringify(spec.paths),
      at,
      auto_resolve_at: at + this.ctx.options.thread_timeout * 1000,
      conflict_key: key,
    });
    for (const agent of participants) this.join.run(agent, id);
    this.ctx.appendEvent('thread_opened', spec.channel, openedEvent(id, spec, participants), at);
    this.record(id, spec.channel, spec.opener, 'opened', spec.note, at);
    return { thread: toThread(this.mustGet(id)), created: true };
  }

  /** Post, approve, contest, close or cancel; returns the thread and the message the action added. */
  async act(input: ThreadActionInput): Promise<ThreadView> {
    const action = checkedAction(input, this.ctx.options);
    const { threadId, agent, kind, content } = action;
    this.sweep(); // a lapsed thread resolves first, in its own transaction
    const view = this.ctx.db
      .transaction((): ThreadView => {
        const at = this.ctx.now();
        const row = this.mustGet(threadId);
        const participants = assertCanAct(row, agent);
        const next = transition(row, participants, action, at, this.ctx.options);
        const messageId = this.record(threadId, row.channel, agent, kind, content, at);
        if (kind === 'proposal') next.proposal_message = messageId;
        this.update.run(next);
        if (next.status !== row.status)
          this.ctx.appendEvent('thread_status', row.channel, { thread_id: threadId, from: row.status, to: next.status, action: kind, by: agent }, at);
        const message = this.messagesAfter.get(threadId, messageId - 1, 1);
        return { thread: toThread(this.mustGet(threadId)), messages: message === undefined ? [] : [toThreadMessage(message)] };
      })
      .immediate();
    await this.notify(view.thread, agent, `${kind}${content === '' ? '' : `: ${content}`}`);
    return view;
  }

  get(input: GetThreadInput): ThreadView {
    const row = this.mustGet(ident(input.thread_id, 'thread_id'));
    this.sweep();
    const agent = ident(input.agent_id, 'agent_id');
    requireParticipant(row, parseJson<string[]>(row.participants), agent, true, this.ctx.options.claim_admins);
    const messages = this.messagesAfter.all(row.id, position(input.after, 'after') ?? 0, 1000).map(toThreadMessage);
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
    const reader = query.agent_id === undefined ? undefined : ident(query.agent_id, 'agent_id');
    // As in get(): a claim admin may read every thread, so lists them all.
    if (reader !== undefined && !this.ctx.options.claim_admins.includes(reader)) {
      clauses.push('t.id IN (SELECT thread_id FROM thread_participants WHERE agent_id = @agent)');
      params.agent = reader;
    }
    const sql = `SELECT t.* FROM threads t WHERE ${clauses.join(' AND ')} ORDER BY t.updated_at DESC, t.seq DESC LIMIT @limit`;
    return (this.ctx.db.prepare(sql).all(params) as ThreadRow[]).map(toThread);
  }

  /** Threads that have not ended (open, proposed, resolved) in a scope that `reader` may read, newest activity first. */
  active(channel: string, repo: string | null, reader?: string): Thread[] {
    return this.list({ channel, repo: repo ?? undefined, agent_id: reader, limit: 1000 }).filter((t) => !ENDED.has(t.status));
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
      messages: page.map(toThreadMessage),
      threads: ids.map((id) => toThread(this.mustGet(id))),
      next_after: page[page.length - 1]?.id ?? after,
      has_more: rows.length > limit,
    };
  }

  /** Resolves threads idle past thread_timeout, in its own transaction. */
  sweep(): void {
    sweepOnce(
      this.ctx,
      this.events,
      (at) => this.anyLapsed.get(at) !== undefined,
      (at) => {
        const rows = this.lapsed.all(at);
        for (const row of rows) {
          const { next, note } = timeoutResolution(row, at, this.ctx.options);
          this.update.run(next);
          this.record(row.id, row.channel, null, 'auto_resolved', note, at);
          this.ctx.appendEvent('thread_status', row.channel, { thread_id: row.id, from: row.status, to: 'resolved', action: 'auto_resolved', by: null }, at);
        }
        return rows.length;
      },
    );
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private record(threadId: string, channel: string, agent: string | null, kind: ThreadMessageKind, content: string, at: number): number {
    const id = Number(this.addMessage.run(threadId, agent, kind, content, at).lastInsertRowid);
    this.ctx.appendEvent('thread_message', channel, { thread_id: threadId, message_id: id, agent_id: agent, kind, content }, at);
    return id;
  }

  /** After a commit: wakes event readers and tells the other participants (thread-rules.ts, sendNotices). */
  async notify(thread: Thread, by: string, what: string): Promise<void> {
    this.events.committed();
    await sendNotices(this.send, this.ctx.logger, thread, by, what);
  }

  private mustGet(threadId: string): ThreadRow {
    const row = this.byId.get(threadId);
    if (row === undefined) throw unknownThread(threadId);
    return row;
  }
}
