import { randomUUID } from 'node:crypto';
import { topics } from '../../../kit/notifier.js';
import { type TaskRow, toTask } from '../rows.js';
import { actingElsewhere, assertCompletable, claimElsewhere, completion, noTaskReason, taskToPost, unknownAgent, unknownTask } from '../rules.js';
import { assertRenewableTask, leaseRenewal, renewedEvent, renewedLease, returnedEvent } from '../task-lease.js';
import type { ClaimTaskInput, ClaimTaskResult, CompleteTaskInput, Lease, PostTaskInput, RenewTaskInput, Task, TaskListQuery } from '../types.js';
import { channelName, ident, iso, pageSize } from '../validate.js';
import type { PgAgents } from './agents.js';
import { CallGroup, columns } from './call-group.js';
import { type PgContext, type PgTx, preparedRow, preparedRows, type Queryable, row, rows, wake } from './context.js';
import { pgSweepTimer } from './sweep.js';

/** What coord_task_claim (and coord_task_claim_batch, per claim) answers. */
interface ClaimRow {
  agent_channel: string | null;
  agent_capabilities: string | null;
  task: TaskRow | null;
  pending: number | null;
}

/** What coord_task_complete, coord_task_complete_batch (per call) and coord_task_renew answer. */
interface ChangeRow {
  done: boolean;
  known: boolean;
  task: TaskRow | null;
}

/**
 * The task queue on PostgreSQL. Post, claim, complete and renew are one
 * function call each, without the store's write lock (task-functions.ts has
 * why that is safe): a claim picks the best pending row with FOR UPDATE SKIP
 * LOCKED and moves it to claimed in the same statement, so two claimers on
 * any gateways never get the same task. Leases, epochs and re-queueing of
 * lapsed claims follow the SQLite store; every gateway's sweeper re-queues,
 * and the first one to run wins.
 */
export class PgTasks {
  private readonly sweeper: NodeJS.Timeout;
  /** Claims and completions that meet here commit together (call-group.ts; schema step 10, pg/batch-functions.ts). */
  private readonly claims: CallGroup<unknown[], ClaimRow | undefined>;
  private readonly completions: CallGroup<unknown[], ChangeRow | undefined>;

  constructor(
    private readonly ctx: PgContext,
    readonly _agents: PgAgents,
  ) {
    this.sweeper = pgSweepTimer(ctx, ctx.options.task_claim_timeout, () => this.sweep(), 'could not re-queue lapsed task claims');
    // The last parameter (the event buffer size) is one value for a batch: every call of this store passes the same.
    this.claims = new CallGroup(
      (p) => preparedRow<ClaimRow>(ctx.pool, 'coord_task_claim', 'SELECT * FROM coord_task_claim($1, $2, $3, $4, $5, $6)', p),
      (list) => preparedRows<ClaimRow>(ctx.pool, 'coord_task_claim_batch', 'SELECT * FROM coord_task_claim_batch($1, $2, $3, $4, $5, $6)', columns(list, [5])),
    );
    this.completions = new CallGroup(
      (p) => preparedRow<ChangeRow>(ctx.pool, 'coord_task_complete', 'SELECT * FROM coord_task_complete($1, $2, $3, $4, $5, $6, $7, $8)', p),
      (list) =>
        preparedRows<ChangeRow>(
          ctx.pool,
          'coord_task_complete_batch',
          'SELECT * FROM coord_task_complete_batch($1, $2, $3, $4, $5, $6, $7, $8)',
          columns(list, [7]),
        ),
    );
  }

  async post(input: PostTaskInput): Promise<Task> {
    const t = taskToPost(input, this.ctx.options);
    const at = this.ctx.now();
    const id = randomUUID();
    const data = { task_id: id, description: t.description, posted_by: t.postedBy, priority: t.priority, required_capability: t.capability };
    const posted = await preparedRow<{ poster_channel: string | null; task: TaskRow | null }>(
      this.ctx.pool,
      'coord_task_post',
      'SELECT * FROM coord_task_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      [id, t.channel, t.description, t.postedBy, t.capability, t.priority, t.metadata, at, JSON.stringify(data), this.ctx.options.max_event_buffer],
    );
    if (posted?.poster_channel == null) throw unknownAgent(t.postedBy, 'Poster');
    if (posted.task === null) throw actingElsewhere('Poster', t.postedBy, posted.poster_channel, t.channel, 'post');
    wake(this.ctx, [topics.events]);
    return toTask(posted.task);
  }

  /** One function call (task-functions.ts): lapsed claims re-queued, then the best pending task claimed with FOR UPDATE SKIP LOCKED. */
  async claim(input: ClaimTaskInput): Promise<ClaimTaskResult> {
    const agentId = ident(input.agent_id, 'agent_id');
    const channel = channelName(input.channel);
    const at = this.ctx.now();
    const expires = at + this.ctx.options.task_claim_timeout * 1000;
    const found = await this.claims.call([agentId, channel, at, expires, iso(expires), this.ctx.options.max_event_buffer]);
    if (found?.agent_channel == null) throw unknownAgent(agentId);
    if (found.agent_channel !== channel) throw claimElsewhere(agentId, found.agent_channel, channel);
    wake(this.ctx, [topics.events]);
    const claimed = found.task;
    if (claimed === null) return { task: null, lease: null, reason: noTaskReason(found.pending ?? 0, channel, agentId, found.agent_capabilities ?? '[]') };
    return { task: toTask(claimed), lease: { task_id: claimed.id, epoch: claimed.epoch, expires_at: iso(expires) } };
  }

  /** One function call; a refusal is worded from the task row as it is (task-lease.ts). */
  async renew(input: RenewTaskInput): Promise<Lease> {
    const { taskId, agentId, epoch } = leaseRenewal(input);
    for (;;) {
      const at = this.ctx.now();
      const expires = at + this.ctx.options.task_claim_timeout * 1000;
      const lease: Lease = { task_id: taskId, epoch, expires_at: iso(expires) };
      const found = await this.changeTask(undefined, [
        taskId,
        agentId,
        epoch,
        at,
        expires,
        JSON.stringify(renewedEvent(lease, agentId)),
        this.ctx.options.max_event_buffer,
      ]);
      if (found.done) return renewedLease(found.task, expires);
      assertRenewableTask(found.task, agentId, epoch, this.ctx.options);
      if (!found.known) throw unknownAgent(agentId);
      // The row changed between the update and the read (another gateway): ask again.
    }
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

  /** One function call; a refusal is worded from the task row as it is (rules.ts assertCompletable). */
  async complete(input: CompleteTaskInput): Promise<Task> {
    const c = completion(input, this.ctx.options);
    for (;;) {
      const found = await this.changeTask(this.completions, [
        c.taskId,
        c.agentId,
        c.epoch ?? null,
        c.status,
        c.result,
        this.ctx.now(),
        JSON.stringify({ task_id: c.taskId, agent_id: c.agentId, status: c.status, result: c.result }),
        this.ctx.options.max_event_buffer,
      ]);
      if (found.done) return toTask(found.task);
      assertCompletable(found.task, c.agentId, c.epoch, this.ctx.options);
      if (!found.known) throw unknownAgent(c.agentId);
    }
  }

  /** Runs a complete or renew function: the task row as it is after the call, UNKNOWN_TASK when there is none. */
  private async changeTask(
    completions: CallGroup<unknown[], ChangeRow | undefined> | undefined,
    params: unknown[],
  ): Promise<{ done: boolean; known: boolean; task: TaskRow }> {
    const found =
      completions === undefined
        ? await preparedRow<ChangeRow>(this.ctx.pool, 'coord_task_renew', 'SELECT * FROM coord_task_renew($1, $2, $3, $4, $5, $6, $7)', params)
        : await completions.call(params);
    wake(this.ctx, [topics.events]);
    if (found?.task == null) throw unknownTask(String(params[0]));
    return { done: found.done, known: found.known, task: found.task };
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

  /** Re-queues lapsed claims (when there are any), task_requeued events included: one function call. */
  async sweep(): Promise<void> {
    if (this.ctx.isClosed()) return;
    const at = this.ctx.now();
    const any = await row(this.ctx.pool, "SELECT 1 FROM tasks WHERE status = 'claimed' AND lease_expires_at <= $1 LIMIT 1", [at]);
    if (any === undefined) return;
    const done = await row<{ n: number }>(this.ctx.pool, 'SELECT coord_task_requeue($1, $2) AS n', [at, this.ctx.options.max_event_buffer]);
    if ((done?.n ?? 0) > 0) wake(this.ctx, [topics.events]);
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private async mustGet(db: Queryable, taskId: string): Promise<TaskRow> {
    const found = await row<TaskRow>(db, 'SELECT * FROM tasks WHERE id = $1', [taskId]);
    if (found === undefined) throw unknownTask(taskId);
    return found;
  }
}
