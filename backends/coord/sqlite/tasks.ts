import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { CoordError } from '../errors.js';
import type { ClaimTaskInput, ClaimTaskResult, CompleteTaskInput, PostTaskInput, Task, TaskListQuery, TaskStatus } from '../types.js';
import { channelName, ident, iso, isoOrNull, jsonValue, optionalIdent, pageSize, position, textSize } from '../validate.js';
import type { SqliteAgents } from './agents.js';
import { parseJson, type SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';

interface TaskRow {
  seq: number;
  id: string;
  channel: string;
  description: string;
  posted_by: string;
  required_capability: string | null;
  priority: number;
  metadata: string;
  status: TaskStatus;
  claimed_by: string | null;
  claimed_at: number | null;
  lease_expires_at: number | null;
  epoch: number;
  attempts: number;
  result: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

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
    const every = Math.min(30_000, Math.max(50, (ctx.options.task_claim_timeout * 1000) / 2));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  post(input: PostTaskInput): Task {
    const { options, now, db } = this.ctx;
    const description = textSize(input.description, 'Task description', options);
    if (description.trim() === '') throw new CoordError('BAD_REQUEST', 'Task description is empty; say what needs doing.');
    const postedBy = ident(input.posted_by, 'posted_by');
    const capability = optionalIdent(input.required_capability, 'required_capability');
    const priority = input.priority ?? 0;
    if (!Number.isSafeInteger(priority)) throw new CoordError('BAD_REQUEST', `Priority ${priority} is not a whole number; higher is more urgent, default 0.`);
    const raw = input.metadata ?? {};
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new CoordError('BAD_REQUEST', 'Task metadata must be a JSON object, e.g. {"deadline": "2026-06-15"}.');
    }
    const metadata = jsonValue(raw, 'Task metadata', options);
    const channel = channelName(input.channel);
    const row = db
      .transaction((): TaskRow => {
        const at = now();
        this.ctx.ensureChannel(channel, postedBy, at);
        const id = randomUUID();
        this.insert.run({
          id, channel, description, posted_by: postedBy, required_capability: capability, priority, metadata, status: 'pending',
          claimed_by: null, claimed_at: null, lease_expires_at: null, epoch: 0, attempts: 0, result: null,
          created_at: at, updated_at: at, completed_at: null,
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
        if (agent.channel !== channel) {
          throw new CoordError(
            'UNKNOWN_AGENT',
            `Agent '${agentId}' is registered in channel '${agent.channel}', not '${channel}'; claim with channel '${agent.channel}' or re-register in '${channel}'.`,
            { agent_id: agentId, channel: agent.channel },
          );
        }
        this.agents.touch(agentId, at);
        const expires = at + this.ctx.options.task_claim_timeout * 1000;
        const row = this.claimOne.get({ agent: agentId, at, expires, channel, capabilities: agent.capabilities });
        if (row === undefined) {
          const pending = this.pendingIn.get(channel)?.n ?? 0;
          const reason =
            pending === 0
              ? `No pending tasks in channel '${channel}'.`
              : `${pending} pending task(s) in channel '${channel}' require a capability that '${agentId}' lacks (it has ${agent.capabilities}).`;
          return { task: null, lease: null, reason };
        }
        this.ctx.appendEvent('task_claimed', channel, { task_id: row.id, agent_id: agentId, epoch: row.epoch, lease_expires_at: iso(expires) }, at);
        return { task: toTask(row), lease: { task_id: row.id, epoch: row.epoch, expires_at: iso(expires) } };
      })
      .immediate();
    this.events.committed();
    return result;
  }

  complete(input: CompleteTaskInput): Task {
    const taskId = ident(input.task_id, 'task_id');
    const agentId = ident(input.agent_id, 'agent_id');
    const epoch = position(input.epoch, 'epoch');
    const status = input.status ?? 'complete';
    const resultText = input.result === undefined ? null : textSize(input.result, 'Task result', this.ctx.options);
    // Lapsed leases are re-queued in their own transaction first, so that a
    // refusal below (which rolls its transaction back) does not undo that.
    this.sweep();
    const row = this.ctx.db
      .transaction((): TaskRow => {
        const at = this.ctx.now();
        this.requeueLapsed(at);
        const task = this.mustGet(taskId);
        const details = { task_id: taskId, status: task.status, claimed_by: task.claimed_by, epoch: task.epoch };
        if (task.status === 'complete' || task.status === 'failed') {
          throw new CoordError('CONFLICT', `Task ${taskId} is already ${task.status}; nothing to do.`, details);
        }
        if (task.status === 'pending') {
          throw new CoordError(
            'CONFLICT',
            `Task ${taskId} is not claimed (its lease lapsed after ${this.ctx.options.task_claim_timeout} s and it went back to pending, or it was never claimed); claim it again before completing.`,
            details,
          );
        }
        if (task.claimed_by !== agentId) {
          throw new CoordError('CONFLICT', `Task ${taskId} is claimed by '${task.claimed_by ?? '?'}', not '${agentId}'; only the claimer can complete it.`, details);
        }
        if (epoch !== undefined && epoch !== task.epoch) {
          throw new CoordError(
            'CONFLICT',
            `Lease epoch ${epoch} of task ${taskId} is stale (current epoch ${task.epoch}): the lease lapsed and the task was claimed again. Drop this work.`,
            details,
          );
        }
        this.finish.run({ status, result: resultText, at, id: taskId });
        this.agents.touch(agentId, at);
        this.ctx.appendEvent(status === 'complete' ? 'task_completed' : 'task_failed', task.channel, { task_id: taskId, agent_id: agentId, status, result: resultText }, at);
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
      params.claimed_by = query.claimed_by;
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
      this.ctx.appendEvent('task_requeued', row.channel, { task_id: row.id, previous_claimer: row.claimed_by, epoch: row.epoch, attempts: row.attempts + 1 }, at);
    }
    return rows.length;
  }

  private mustGet(taskId: string): TaskRow {
    const row = this.byId.get(taskId);
    if (row === undefined) {
      throw new CoordError('UNKNOWN_TASK', `No task with id '${taskId}'; mux_task_list (GET /coord/task/list) shows the tasks of a channel.`, { task_id: taskId });
    }
    return row;
  }
}

function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    description: row.description,
    posted_by: row.posted_by,
    required_capability: row.required_capability,
    priority: row.priority,
    channel: row.channel,
    metadata: parseJson<Record<string, unknown>>(row.metadata),
    status: row.status,
    claimed_by: row.claimed_by,
    claimed_at: isoOrNull(row.claimed_at),
    epoch: row.epoch,
    lease_expires_at: isoOrNull(row.lease_expires_at),
    attempts: row.attempts,
    result: row.result,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    completed_at: isoOrNull(row.completed_at),
  };
}
