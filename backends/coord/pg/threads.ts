import { randomUUID } from 'node:crypto';
import { repoName } from '../claim-validate.js';
import { parseJson } from '../rows.js';
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
import { type PgContext, type PgTx, type Queryable, row, rows, snapshot, write } from './context.js';
import { pgSweepTimer, sweepLapsed } from './sweep.js';

const LAPSED = `FROM threads WHERE status IN ('open', 'proposed') AND auto_resolve_at <= $1`;

/**
 * Consultation threads on PostgreSQL, with the state machine and sentences of
 * thread-rules.ts. Every action is one write transaction under the store's
 * write lock: the thread row, its message (ids in commit order) and its
 * events. Afterwards the notices to the other participants go through the
 * store's message path, so a long-poll on any gateway wakes.
 */
export class PgThreads {
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ctx: PgContext,
    private readonly send: SendNotice,
  ) {
    this.sweeper = pgSweepTimer(ctx, ctx.options.thread_timeout, () => this.sweep(), 'could not resolve lapsed threads');
  }

  /** Opens a thread on request; the live thread about the same claims when there is one. */
  async open(input: OpenThreadInput): Promise<Thread> {
    const spec = threadToOpen(input, this.ctx.options);
    const opened = await write(this.ctx, async (tx) => {
      const agents = [spec.opener, ...spec.others];
      const registered = new Map(
        (await rows<{ id: string; channel: string }>(tx, 'SELECT id, channel FROM agents WHERE id = ANY($1::text[])', [agents])).map((a) => [a.id, a.channel]),
      );
      const claims = new Set((await rows<{ id: string }>(tx, 'SELECT id FROM work_claims WHERE id = ANY($1::text[])', [spec.claimIds])).map((c) => c.id));
      assertReferences(
        spec,
        (agent) => registered.get(agent) ?? null,
        (claimId) => claims.has(claimId),
      );
      return this.openIn(tx, spec, this.ctx.now());
    });
    if (opened.created) await this.notify(opened.thread, spec.opener, `opened a thread: ${spec.subject}`);
    return opened.thread;
  }

  /** The newest thread about `claimId` that has not ended, or null. */
  async liveThreadOf(db: Queryable, claimId: string): Promise<Thread | null> {
    const found = await row<ThreadRow>(
      db,
      `SELECT * FROM threads WHERE claim_ids LIKE $1 AND status IN ('open', 'proposed', 'resolved') ORDER BY seq DESC LIMIT 1`,
      [`%${JSON.stringify(claimId)}%`],
    );
    return found === undefined ? null : toThread(found);
  }

  /**
   * Inside the caller's write transaction: creates the thread, its participants
   * and its first message, with events — unless a thread about the same claims
   * has not ended (one live thread per conflict): then that one, not created.
   */
  async openIn(tx: PgTx, spec: ThreadSpec, at: number): Promise<{ thread: Thread; created: boolean }> {
    const key = conflictKey(spec.claimIds);
    const live =
      key === null
        ? undefined
        : await row<ThreadRow>(tx, `SELECT * FROM threads WHERE conflict_key = $1 AND status IN ('open', 'proposed', 'resolved')`, [key]);
    if (live !== undefined) return { thread: toThread(live), created: false };
    const id = randomUUID();
    const participants = [spec.opener, ...spec.others];
    await tx.ensureChannel(spec.channel, spec.opener, at);
    const saved = await row<ThreadRow>(
      tx,
      `INSERT INTO threads (id, channel, repo, subject, opened_by, participants, claim_ids, paths, status, approvals, created_at, updated_at, auto_resolve_at, conflict_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', '[]', $9, $9, $10, $11) RETURNING *`,
      [
        id,
        spec.channel,
        spec.repo,
        spec.subject,
        spec.opener,
        JSON.stringify(participants),
        JSON.stringify(spec.claimIds),
        JSON.stringify(spec.paths),
        at,
        at + this.ctx.options.thread_timeout * 1000,
        key,
      ],
    );
    await tx.query('INSERT INTO thread_participants (agent_id, thread_id) SELECT a, $2 FROM unnest($1::text[]) AS a ON CONFLICT DO NOTHING', [
      participants,
      id,
    ]);
    await tx.appendEvent('thread_opened', spec.channel, openedEvent(id, spec, participants), at);
    await this.record(tx, id, spec.channel, spec.opener, 'opened', spec.note, at);
    return { thread: toThread(saved as ThreadRow), created: true };
  }

  /** Post, approve, contest, close or cancel; returns the thread and the message the action added. */
  async act(input: ThreadActionInput): Promise<ThreadView> {
    const action = checkedAction(input, this.ctx.options);
    const { threadId, agent, kind, content } = action;
    await this.sweep(); // a lapsed thread resolves first, in its own transaction
    const view = await write(this.ctx, async (tx): Promise<ThreadView> => {
      const at = this.ctx.now();
      const current = await this.mustGet(tx, threadId);
      const participants = assertCanAct(current, agent);
      const next = transition(current, participants, action, at, this.ctx.options);
      const message = await this.record(tx, threadId, current.channel, agent, kind, content, at);
      if (kind === 'proposal') next.proposal_message = message.id;
      const saved = await this.update(tx, next);
      if (next.status !== current.status)
        await tx.appendEvent('thread_status', current.channel, { thread_id: threadId, from: current.status, to: next.status, action: kind, by: agent }, at);
      return { thread: toThread(saved), messages: [toThreadMessage(message)] };
    });
    await this.notify(view.thread, agent, `${kind}${content === '' ? '' : `: ${content}`}`);
    return view;
  }

  async get(input: GetThreadInput): Promise<ThreadView> {
    const current = await this.mustGet(this.ctx.pool, ident(input.thread_id, 'thread_id'));
    await this.sweep();
    const agent = ident(input.agent_id, 'agent_id');
    requireParticipant(current, parseJson<string[]>(current.participants), agent, true, this.ctx.options.claim_admins);
    const after = position(input.after, 'after') ?? 0;
    return snapshot(this.ctx, async (db) => {
      const messages = await rows<ThreadMessageRow>(db, 'SELECT * FROM thread_messages WHERE thread_id = $1 AND id > $2 ORDER BY id LIMIT 1000', [
        current.id,
        after,
      ]);
      return { thread: toThread(await this.mustGet(db, current.id)), messages: messages.map(toThreadMessage) };
    });
  }

  async list(query: ThreadListQuery): Promise<Thread[]> {
    await this.sweep();
    const params: unknown[] = [channelName(query.channel), pageSize(query.limit)];
    const clauses = ['t.channel = $1'];
    const add = (sql: (n: string) => string, value: unknown): void => {
      params.push(value);
      clauses.push(sql(`$${params.length}`));
    };
    if (query.repo !== undefined) add((n) => `t.repo = ${n}`, repoName(query.repo));
    if (query.status !== undefined) add((n) => `t.status = ${n}`, query.status);
    const reader = query.agent_id === undefined ? undefined : ident(query.agent_id, 'agent_id');
    // As in get(): a claim admin may read every thread, so lists them all.
    if (reader !== undefined && !this.ctx.options.claim_admins.includes(reader))
      add((n) => `t.id IN (SELECT thread_id FROM thread_participants WHERE agent_id = ${n})`, reader);
    const found = await rows<ThreadRow>(
      this.ctx.pool,
      `SELECT t.* FROM threads t WHERE ${clauses.join(' AND ')} ORDER BY t.updated_at DESC, t.seq DESC LIMIT $2`,
      params,
    );
    return found.map(toThread);
  }

  /** Threads that have not ended (open, proposed, resolved) in a scope that `reader` may read, newest activity first. */
  async active(channel: string, repo: string | null, reader?: string): Promise<Thread[]> {
    return (await this.list({ channel, repo: repo ?? undefined, agent_id: reader, limit: 1000 })).filter((t) => !ENDED.has(t.status));
  }

  async updates(input: ThreadUpdatesInput): Promise<ThreadUpdates> {
    await this.sweep();
    const agent = ident(input.agent_id, 'agent_id');
    const after = position(input.after, 'after') ?? 0;
    const limit = pageSize(input.limit);
    const channel = input.channel === undefined ? null : channelName(input.channel);
    return snapshot(this.ctx, async (db) => {
      const found = await rows<ThreadMessageRow>(
        db,
        `SELECT m.* FROM thread_participants p
           JOIN thread_messages m ON m.thread_id = p.thread_id
           JOIN threads t ON t.id = p.thread_id
         WHERE p.agent_id = $1 AND m.id > $2 AND ($3::text IS NULL OR t.channel = $3)
         ORDER BY m.id LIMIT $4`,
        [agent, after, channel, limit + 1],
      );
      const page = found.slice(0, limit);
      const ids = [...new Set(page.map((m) => m.thread_id))];
      const threads = new Map((await rows<ThreadRow>(db, 'SELECT * FROM threads WHERE id = ANY($1::text[])', [ids])).map((t) => [t.id, t]));
      return {
        agent_id: agent,
        messages: page.map(toThreadMessage),
        threads: ids.map((id) => {
          const thread = threads.get(id);
          if (thread === undefined) throw unknownThread(id);
          return toThread(thread);
        }),
        next_after: page[page.length - 1]?.id ?? after,
        has_more: found.length > limit,
      };
    });
  }

  /** Resolves threads idle past thread_timeout, in its own transaction. */
  sweep(): Promise<void> {
    return sweepLapsed(this.ctx, `SELECT 1 ${LAPSED} LIMIT 1`, async (tx, at) => {
      for (const lapsed of await rows<ThreadRow>(tx, `SELECT * ${LAPSED} ORDER BY seq`, [at])) {
        const { next, note } = timeoutResolution(lapsed, at, this.ctx.options);
        await this.update(tx, next);
        await this.record(tx, lapsed.id, lapsed.channel, null, 'auto_resolved', note, at);
        await tx.appendEvent(
          'thread_status',
          lapsed.channel,
          { thread_id: lapsed.id, from: lapsed.status, to: 'resolved', action: 'auto_resolved', by: null },
          at,
        );
      }
    });
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** After a commit: tells the other participants (thread-rules.ts, sendNotices); the events already woke readers at commit. */
  notify(thread: Thread, by: string, what: string): Promise<void> {
    return sendNotices(this.send, this.ctx.logger, thread, by, what);
  }

  private async record(
    tx: PgTx,
    threadId: string,
    channel: string,
    agent: string | null,
    kind: ThreadMessageKind,
    content: string,
    at: number,
  ): Promise<ThreadMessageRow> {
    const saved = (await row<ThreadMessageRow>(
      tx,
      'INSERT INTO thread_messages (thread_id, agent_id, kind, content, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING *',
      [threadId, agent, kind, content, at],
    )) as ThreadMessageRow;
    await tx.appendEvent('thread_message', channel, { thread_id: threadId, message_id: saved.id, agent_id: agent, kind, content }, at);
    return saved;
  }

  private async update(tx: PgTx, next: ThreadUpdate): Promise<ThreadRow> {
    const saved = await row<ThreadRow>(
      tx,
      `UPDATE threads SET status = $2, proposal = $3, proposal_by = $4, proposal_message = $5, approvals = $6, resolution = $7,
         resolved_how = $8, resolved_at = $9, updated_at = $10, auto_resolve_at = $11 WHERE id = $1 RETURNING *`,
      [
        next.id,
        next.status,
        next.proposal,
        next.proposal_by,
        next.proposal_message,
        next.approvals,
        next.resolution,
        next.resolved_how,
        next.resolved_at,
        next.updated_at,
        next.auto_resolve_at,
      ],
    );
    if (saved === undefined) throw unknownThread(next.id);
    return saved;
  }

  private async mustGet(db: Queryable, threadId: string): Promise<ThreadRow> {
    const found = await row<ThreadRow>(db, 'SELECT * FROM threads WHERE id = $1', [threadId]);
    if (found === undefined) throw unknownThread(threadId);
    return found;
  }
}
