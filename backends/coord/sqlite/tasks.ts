import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { type TaskRow, toTask } from '../rows.js';
import { actingElsewhere, assertCompletable, claimElsewhere, completion, noTaskReason, taskToPost, unknownTask } from '../rules.js';
import { assertRenewableTask, leaseRenewal, renewedEvent, renewedLease, returnedEvent } from '../task-lease.js';
import type { ClaimTaskInput, ClaimTaskResult, CompleteTaskInput, Lease, PostTaskInput, RenewTaskInput, Task, TaskListQuery, TaskStatus } from '../types.js';
import { channelName, ident, iso, pageSize } from '../validate.js';
import type { SqliteAgents } from './agents.js';
import type { SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';

interface ClaimParams {
  agent: string;
  at: number;
  expires: number;
  channel: string;
  capabilities: string;
}

/**
 * The task queue. Claims are one UPDATE of the best pending row inside an
 * IMMEDIATE transaction, so with one SQLite writer two claimers can never get
 * the same task. A lease is (task, epoch, expiry); the epoch grows on every
 * claim, so a claimer whose lease lapsed cannot complete the task after it was
 * handed to someone else. Lapsed claims are re-queued lazily at the start of
 * every claim, complete and list transaction (race-free: same transaction),
 * and by a timer so that task_requeued events are timely.
 */
export class SqliteTasks {
  private readonly insert: Statement<[Omit<TaskRow, 'seq'>]>;
  private readonly byId: Statement<[string], TaskRow>;
  private readonly lapsed: Statement<[number], TaskRow>;
  private readonly requeue: Statement<[number, string]>;
  private readonly claimOne: Statement<[ClaimParams], TaskRow>;
  private readonly pendingIn: Statement<[string], { n: number }>;
  private readonly finish: Statement<[{ status: TaskStatus; result: string | null; at: number; id: string }]>;
  private readonly extend: Statement<[number, number, string]>;
  private readonly returnAll: Statement<[number, string], TaskRow>;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ctx: SqliteContext,
    private readonly agents: SqliteAgents,
    private readonly events: SqliteEvents,
  ) {
    const { db } = ctx;
    this.insert = db.prepare(
      `INSERT INTO tasks (id, channel, description, posted_by, required_capability, priority, metadata, status,
         claimed_by, claimed_at, lease_expires_at, epoch, attempts, result, created_at, updated_at, completed_at)
       VALUES (@id, @channel, @description, @posted_by, @required_capability, @priority, @metadata, @status,
         @claimed_by, @claimed_at, @lease_expires_at, @epoch, @attempts, @result, @created_at, @updated_at, @completed_at)`,
    );
    this.byId = db.prepare('SELECT * FROM tasks WHERE id = ?');
    this.lapsed = db.prepare(`SELECT * FROM tasks WHERE status = 'claimed' AND lease_expires_at <= ? ORDER BY seq`);
    this.requeue = db.prepare(
      `UPDATE tasks SET status = 'pending', claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
         attempts = attempts + 1, updated_at = ? WHERE id = ? AND status = 'claimed'`,
    );
    // The subquery picks the best candidate; `AND status = 'pending'` keeps the
    // UPDATE correct even if a store ever runs it outside one writer.
    this.claimOne = db.prepare(
      `UPDATE tasks SET status = 'claimed', claimed_by = @agent, claimed_at = @at, lease_expires_at = @expires,
         epoch = epoch + 1, updated_at = @at
       WHERE seq = (
         SELECT seq FROM tasks
         WHERE channel = @channel AND status = 'pending'
           AND (required_capability IS NULL OR required_capability IN (SELECT value FROM json_each(@capabilities)))
         ORDER BY priority DESC, seq ASC LIMIT 1)
       AND status = 'pending'
       RETURNING *`,
    );
    this.pendingIn = db.prepare(`SELECT COUNT(*) AS n FROM tasks WHERE channel = ? AND status = 'pending'`);
    this.finish = db.prepare(
      `UPDATE tasks SET status = @status, result = @result, lease_expires_at = NULL, completed_at = @at, updated_at = @at WHERE id = @id`,
    );
    this.extend = db.prepare('UPDATE tasks SET lease_expires_at = ?, updated_at = ? WHERE id = ?');
    this.returnAll = db.prepare(
      `UPDATE tasks SET status = 'pending', claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
         attempts = attempts + 1, updated_at = ? WHERE claimed_by = ? AND status = 'claimed' RETURNING *`,
    );
    const every = Math.min(30_000, Math.max(50, (ctx.options.task_claim_timeout * 1000) / 2));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  post(input: PostTaskInput): Task {
    const { options, now, db } = this.ctx;
    const { description, postedBy, capability, priority, metadata, channel } = taskToPost(input, options);
    const row = db
      .transaction((): TaskRow => {
        const at = now();
        const poster = this.agents.require(postedBy, 'Poster');
        if (poster.channel !== channel) throw actingElsewhere('Poster', postedBy, poster.channel, channel, 'post');
        this.ctx.ensureChannel(channel, postedBy, at);
        const id = randomUUID();
        this.insert.run({
          id,
          channel,
          description,
          posted_by: postedBy,
          required_capability: capability,
          priority,
          metadata,
          status: 'pending',
          claimed_by: null,
          claimed_at: null,
          lease_expires_at: null,
          epoch: 0,
          attempts: 0,
          result: null,
          created_at: at,
          updated_at: at,
          completed_at: null,
        });
        this.ctx.appendEvent('task_posted', channel, { task_id: id, description, posted_by: postedBy, priority, required_capability: capability }, at);
        return this.mustGet(id);
      })
      .immediate();
    this.events.committed();
    return toTask(row);
  }

  claim(input: ClaimTaskInput): ClaimTaskResult {
    const agentId = ident(input.agent_id, 'agent_id');
    const channel = channelName(input.channel);
    const result = this.ctx.db
      .transaction((): ClaimTaskResult => {
        const at = this.ctx.now();
        this.requeueLapsed(at);
        const agent = this.agents.require(agentId);
        if (agent.channel !== channel) throw claimElsewhere(agentId, agent.channel, channel);
        this.agents.touch(agentId, at);
        const expires = at + this.ctx.options.task_claim_timeout * 1000;
        const row = this.claimOne.get({ agent: agentId, at, expires, channel, capabilities: agent.capabilities });
        if (row === undefined) {
          const reason = noTaskReason(this.pendingIn.get(channel)?.n ?? 0, channel, agentId, agent.capabilities);
          return { task: null, lease: null, reason };
        }
        this.ctx.appendEvent('task_claimed', channel, { task_id: row.id, agent_id: agentId, epoch: row.epoch, lease_expires_at: iso(expires) }, at);
        return { task: toTask(row), lease: { task_id: row.id, epoch: row.epoch, expires_at: iso(expires) } };
      })
      .immediate();
    this.events.committed();
    return result;
  }

  renew(input: RenewTaskInput): Lease {
    const { taskId, agentId, epoch } = leaseRenewal(input);
    this.sweep(); // as in complete(): a lapsed lease is re-queued first, and stays so when the renewal is refused
    const lease = this.ctx.db
      .transaction((): Lease => {
        const at = this.ctx.now();
        this.requeueLapsed(at);
        const task = this.mustGet(taskId);
        assertRenewableTask(task, agentId, epoch, this.ctx.options);
        const expires = at + this.ctx.options.task_claim_timeout * 1000;
        this.extend.run(expires, at, taskId);
        this.agents.touch(agentId, at);
        const renewed = renewedLease(task, expires);
        this.ctx.appendEvent('task_renewed', task.channel, renewedEvent(renewed, agentId), at);
        return renewed;
      })
      .immediate();
    this.events.committed();
    return lease;
  }

  /** Inside the deregister transaction: the agent's claimed tasks go back to pending (attempts + 1, task_requeued). Returns their ids. */
  returnAllOf(agentId: string, at: number): string[] {
    const returned = this.returnAll.all(at, agentId).sort((a, b) => a.seq - b.seq);
    for (const row of returned) this.ctx.appendEvent('task_requeued', row.channel, returnedEvent(row, agentId), at);
    return returned.map((row) => row.id);
  }

  complete(input: CompleteTaskInput): Task {
    const { taskId, agentId, epoch, status, result: resultText } = completion(input, this.ctx.options);
    // Lapsed leases are re-queued in their own transaction first, so that a
    // refusal below (which rolls its transaction back) does not undo that.
    this.sweep();
    const row = this.ctx.db
      .transaction((): TaskRow => {
        const at = this.ctx.now();
        this.requeueLapsed(at);
        const task = this.mustGet(taskId);
        assertCompletable(task, agentId, epoch, this.ctx.options);
        this.finish.run({ status, result: resultText, at, id: taskId });
        this.agents.touch(agentId, at);
        this.ctx.appendEvent(
          status === 'complete' ? 'task_completed' : 'task_failed',
          task.channel,
          { task_id: taskId, agent_id: agentId, status, result: resultText },
          at,
        );
        return this.mustGet(taskId);
      })
      .immediate();
    this.events.committed();
    return toTask(row);
  }

  list(query: TaskListQuery): Task[] {
    const channel = channelName(query.channel);
    const limit = pageSize(query.limit);
    this.sweep();
    const clauses = ['channel = @channel'];
    const params: Record<string, string | number> = { channel, limit };
    if (query.status !== undefined) {
      clauses.push('status = @status');
      params.status = query.status;
    }
    if (query.claimed_by !== undefined) {
      clauses.push('claimed_by = @claimed_by');
      params.claimed_by = query.claimed_by.normalize('NFC'); // names are stored in NFC (ident)
    }
    // Pending tasks in claim order; everything else newest first.
    const order = query.status === 'pending' ? 'priority DESC, seq ASC' : 'seq DESC';
    const rows = this.ctx.prepare(`SELECT * FROM tasks WHERE ${clauses.join(' AND ')} ORDER BY ${order} LIMIT @limit`).all(params) as TaskRow[];
    return rows.map(toTask);
  }

  get(taskId: string): Task {
    this.sweep();
    return toTask(this.mustGet(ident(taskId, 'task_id')));
  }

  /** Re-queues lapsed claims in their own transaction; emits task_requeued. */
  sweep(): void {
    if (this.ctx.isClosed()) return;
    const count = this.ctx.db.transaction(() => this.requeueLapsed(this.ctx.now())).immediate();
    if (count > 0) this.events.committed();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Inside a transaction: lapsed claims go back to pending with attempts + 1. Returns how many. */
  private requeueLapsed(at: number): number {
    const rows = this.lapsed.all(at);
    for (const row of rows) {
      this.requeue.run(at, row.id);
      this.ctx.appendEvent(
        'task_requeued',
        row.channel,
        { task_id: row.id, previous_claimer: row.claimed_by, epoch: row.epoch, attempts: row.attempts + 1 },
        at,
      );
    }
    return rows.length;
  }

  private mustGet(taskId: string): TaskRow {
    const row = this.byId.get(taskId);
    if (row === undefined) throw unknownTask(taskId);
    return row;
  }
}
