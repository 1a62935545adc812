import { randomUUID } from 'node:crypto';
import { type TaskRow, toTask } from '../rows.js';
import { actingElsewhere, assertCompletable, claimElsewhere, completion, noTaskReason, taskToPost, unknownAgent, unknownTask } from '../rules.js';
import { assertRenewableTask, leaseRenewal, renewedEvent, renewedLease, returnedEvent } from '../task-lease.js';
import type { ClaimTaskInput, ClaimTaskResult, CompleteTaskInput, Lease, PostTaskInput, RenewTaskInput, Task, TaskListQuery } from '../types.js';
import { channelName, ident, iso, pageSize } from '../validate.js';
import type { PgAgents } from './agents.js';
import { type PgContext, type PgTx, type Queryable, row, rows, write } from './context.js';
import { pgSweepTimer } from './sweep.js';

/**
 * The task queue on PostgreSQL. A claim picks the best pending row with
 * FOR UPDATE SKIP LOCKED and moves it to claimed in the same statement;
 * inside the store's write transaction that is also serialized, so two
 * claimers on any gateways never get the same task. Leases, epochs and
 * re-queueing of lapsed claims follow the SQLite store; every gateway's
 * sweeper re-queues, and the first one to run wins.
 */
export class PgTasks {
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ctx: PgContext,
    private readonly agents: PgAgents,
  ) {
    this.sweeper = pgSweepTimer(ctx, ctx.options.task_claim_timeout, () => this.sweep(), 'could not re-queue lapsed task claims');
  }

  async post(input: PostTaskInput): Promise<Task> {
    const t = taskToPost(input, this.ctx.options);
    const saved = await write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      const poster = await this.agents.require(tx, t.postedBy, 'Poster');
      if (poster.channel !== t.channel) throw actingElsewhere('Poster', t.postedBy, poster.channel, t.channel, 'post');
      await tx.ensureChannel(t.channel, t.postedBy, at);
      const id = randomUUID();
      const inserted = await row<TaskRow>(
        tx,
        `INSERT INTO tasks (seq, id, channel, description, posted_by, required_capability, priority, metadata, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9) RETURNING *`,
        [await tx.next('tasks'), id, t.channel, t.description, t.postedBy, t.capability, t.priority, t.metadata, at],
      );
      await tx.appendEvent(
        'task_posted',
        t.channel,
        { task_id: id, description: t.description, posted_by: t.postedBy, priority: t.priority, required_capability: t.capability },
        at,
      );
      return inserted as TaskRow;
    });
    return toTask(saved);
  }

  claim(input: ClaimTaskInput): Promise<ClaimTaskResult> {
    const agentId = ident(input.agent_id, 'agent_id');
    const channel = channelName(input.channel);
    return write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      await this.requeueLapsed(tx, at);
      // Touched and read at once; a refusal below rolls the touch back.
      const agent = await this.agents.touch(tx, agentId, at);
      if (agent.channel !== channel) throw claimElsewhere(agentId, agent.channel, channel);
      const expires = at + this.ctx.options.task_claim_timeout * 1000;
      const claimed = await row<TaskRow>(
        tx,
        `UPDATE tasks SET status = 'claimed', claimed_by = $1, claimed_at = $2, lease_expires_at = $3, epoch = epoch + 1, updated_at = $2
         WHERE seq = (
           SELECT seq FROM tasks
           WHERE channel = $4 AND status = 'pending'
             AND (required_capability IS NULL OR required_capability IN (SELECT jsonb_array_elements_text($5::jsonb)))
           ORDER BY priority DESC, seq ASC LIMIT 1
           FOR UPDATE SKIP LOCKED)
         AND status = 'pending'
         RETURNING *`,
        [agentId, at, expires, channel, agent.capabilities],
      );
      if (claimed === undefined) {
        const pending = (await row<{ n: number }>(tx, "SELECT COUNT(*) AS n FROM tasks WHERE channel = $1 AND status = 'pending'", [channel]))?.n ?? 0;
        return { task: null, lease: null, reason: noTaskReason(pending, channel, agentId, agent.capabilities) };
      }
      await tx.appendEvent('task_claimed', channel, { task_id: claimed.id, agent_id: agentId, epoch: claimed.epoch, lease_expires_at: iso(expires) }, at);
      return { task: toTask(claimed), lease: { task_id: claimed.id, epoch: claimed.epoch, expires_at: iso(expires) } };
    });
  }

  async renew(input: RenewTaskInput): Promise<Lease> {
    const { taskId, agentId, epoch } = leaseRenewal(input);
    // As in complete(): a lapsed lease is re-queued first, and stays so when the renewal is refused.
    await this.sweep();
    return write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      await this.requeueLapsed(tx, at);
      const task = await this.mustGet(tx, taskId);
      assertRenewableTask(task, agentId, epoch, this.ctx.options);
      const expires = at + this.ctx.options.task_claim_timeout * 1000;
      await tx.query('UPDATE tasks SET lease_expires_at = $1, updated_at = $2 WHERE id = $3', [expires, at, taskId]);
      await this.agents.touch(tx, agentId, at);
      const lease = renewedLease(task, expires);
      await tx.appendEvent('task_renewed', task.channel, renewedEvent(lease, agentId), at);
      return lease;
    });
  }

  /** Inside the deregister transaction: the agent's claimed tasks go back to pending (attempts + 1, task_requeued). Returns their ids. */
  async returnAllOf(tx: PgTx, agentId: string, at: number): Promise<string[]> {
    const returned = await rows<TaskRow>(
      tx,
      `UPDATE tasks SET status = 'pending', claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL, attempts = attempts + 1, updated_at = $1
       WHERE claimed_by = $2 AND status = 'claimed' RETURNING *`,
      [at, agentId],
    );
    returned.sort((a, b) => a.seq - b.seq);
    for (const r of returned) await tx.appendEvent('task_requeued', r.channel, returnedEvent(r, agentId), at);
    return returned.map((r) => r.id);
  }

  async complete(input: CompleteTaskInput): Promise<Task> {
    const c = completion(input, this.ctx.options);
    // Lapsed leases are re-queued in their own transaction first, so that a
    // refusal below (which rolls its transaction back) does not undo that.
    await this.sweep();
    const done = await write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      await this.requeueLapsed(tx, at);
      const task = await this.mustGet(tx, c.taskId);
      assertCompletable(task, c.agentId, c.epoch, this.ctx.options);
      // The task and the completer's sign of life in one statement.
      const finished = await row<TaskRow & { touched: number }>(
        tx,
        `WITH t AS (UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, $3) WHERE id = $5 RETURNING id)
         UPDATE tasks SET status = $1, result = $2, lease_expires_at = NULL, completed_at = $3, updated_at = $3 WHERE id = $4
         RETURNING *, (SELECT COUNT(*) FROM t) AS touched`,
        [c.status, c.result, at, c.taskId, c.agentId],
      );
      if (finished?.touched !== 1) throw unknownAgent(c.agentId);
      await tx.appendEvent(
        c.status === 'complete' ? 'task_completed' : 'task_failed',
        task.channel,
        { task_id: c.taskId, agent_id: c.agentId, status: c.status, result: c.result },
        at,
      );
      const { touched: _touched, ...completed } = finished;
      return completed;
    });
    return toTask(done);
  }

  async list(query: TaskListQuery): Promise<Task[]> {
    const channel = channelName(query.channel);
    const limit = pageSize(query.limit);
    await this.sweep();
    const params: unknown[] = [channel, limit];
    const clauses = ['channel = $1'];
    if (query.status !== undefined) {
      params.push(query.status);
      clauses.push(`status = $${params.length}`);
    }
    if (query.claimed_by !== undefined) {
      params.push(query.claimed_by.normalize('NFC')); // names are stored in NFC (ident)
      clauses.push(`claimed_by = $${params.length}`);
    }
    // Pending tasks in claim order; everything else newest first.
    const order = query.status === 'pending' ? 'priority DESC, seq ASC' : 'seq DESC';
    return (await rows<TaskRow>(this.ctx.pool, `SELECT * FROM tasks WHERE ${clauses.join(' AND ')} ORDER BY ${order} LIMIT $2`, params)).map(toTask);
  }

  async get(taskId: string): Promise<Task> {
    await this.sweep();
    return toTask(await this.mustGet(this.ctx.pool, ident(taskId, 'task_id')));
  }

  /** Re-queues lapsed claims in their own transaction (when there are any); emits task_requeued. */
  async sweep(): Promise<void> {
    if (this.ctx.isClosed()) return;
    const at = this.ctx.now();
    const any = await row(this.ctx.pool, "SELECT 1 FROM tasks WHERE status = 'claimed' AND lease_expires_at <= $1 LIMIT 1", [at]);
    if (any !== undefined) await write(this.ctx, (tx) => this.requeueLapsed(tx, at));
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Inside a write transaction: lapsed claims go back to pending with attempts + 1. Returns how many. */
  private async requeueLapsed(tx: PgTx, at: number): Promise<number> {
    const lapsed = await rows<TaskRow>(
      tx,
      `UPDATE tasks SET status = 'pending', claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL, attempts = attempts + 1, updated_at = $1
       WHERE status = 'claimed' AND lease_expires_at <= $1
       RETURNING *, (SELECT claimed_by FROM tasks old WHERE old.seq = tasks.seq) AS previous_claimer`,
      [at],
    );
    for (const r of lapsed.sort((a, b) => a.seq - b.seq)) {
      const previous = (r as TaskRow & { previous_claimer: string | null }).previous_claimer;
      await tx.appendEvent('task_requeued', r.channel, { task_id: r.id, previous_claimer: previous, epoch: r.epoch, attempts: r.attempts }, at);
    }
    return lapsed.length;
  }

  private async mustGet(db: Queryable, taskId: string): Promise<TaskRow> {
    const found = await row<TaskRow>(db, 'SELECT * FROM tasks WHERE id = $1', [taskId]);
    if (found === undefined) throw unknownTask(taskId);
    return found;
  }
}
