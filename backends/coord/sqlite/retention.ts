import type { Statement } from 'better-sqlite3';
import { CLAIM_ENDED_AT, ENDED_CLAIM, ENDED_THREAD, type RetentionBatches, retentionCutoffs } from '../retention.js';
import type { SqliteContext } from './context.js';

const FINISHED = `status IN ('complete', 'failed')`;

/** One batch in one channel: the rows up to `boundary`, at most `room` of them. */
interface Batch {
  channel: string;
  boundary: number;
  room: number;
}

/**
 * Retention batches on SQLite (retention.ts). Each looks first without the
 * write lock (the oldest message, the boundary of a channel's newest N) and
 * deletes in its own IMMEDIATE transaction only when something is due. A
 * message goes with its inbox copies; the in-memory copies of inbox heads
 * are then emptied, since one may name a message that is gone.
 */
export class SqliteRetention implements RetentionBatches {
  private readonly oldest: Statement<[], { id: number; sent_at: number }>;
  private readonly inboxUpTo: Statement<[number]>;
  private readonly messagesUpTo: Statement<[number]>;
  private readonly channels: Statement<[], string>;
  private readonly messageBoundary: Statement<[string, number], number>;
  private readonly inboxInChannel: Statement<[Batch]>;
  private readonly messagesInChannel: Statement<[Batch]>;
  private readonly taskDue: Statement<[number], number>;
  private readonly oldTasks: Statement<[number, number]>;
  private readonly taskBoundary: Statement<[string, number], number>;
  private readonly tasksInChannel: Statement<[Batch]>;
  private readonly claimDue: Statement<[number], number>;
  private readonly oldClaims: Statement<[number, number]>;
  private readonly threadsDue: Statement<[number, number], string>;
  private readonly threadParts: Array<Statement<[string]>>;

  constructor(private readonly ctx: SqliteContext) {
    const { db } = ctx;
    this.oldest = db.prepare('SELECT id, sent_at FROM messages ORDER BY id');
    this.inboxUpTo = db.prepare('DELETE FROM inbox WHERE message_id <= ?');
    this.messagesUpTo = db.prepare('DELETE FROM messages WHERE id <= ?');
    this.channels = db.prepare('SELECT name FROM channels ORDER BY name').pluck() as Statement<[], string>;
    this.messageBoundary = db.prepare('SELECT id FROM messages WHERE channel = ? ORDER BY id DESC LIMIT 1 OFFSET ?').pluck() as Statement<
      [string, number],
      number
    >;
    const inChannel = 'SELECT id FROM messages WHERE channel = @channel AND id <= @boundary ORDER BY id LIMIT @room';
    this.inboxInChannel = db.prepare(`DELETE FROM inbox WHERE message_id IN (${inChannel})`);
    this.messagesInChannel = db.prepare(`DELETE FROM messages WHERE id IN (${inChannel})`);
    this.taskDue = db.prepare(`SELECT 1 FROM tasks WHERE ${FINISHED} AND completed_at < ? LIMIT 1`).pluck() as Statement<[number], number>;
    this.oldTasks = db.prepare(`DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks WHERE ${FINISHED} AND completed_at < ? ORDER BY completed_at LIMIT ?)`);
    this.taskBoundary = db.prepare(`SELECT seq FROM tasks WHERE channel = ? AND ${FINISHED} ORDER BY seq DESC LIMIT 1 OFFSET ?`).pluck() as Statement<
      [string, number],
      number
    >;
    this.tasksInChannel = db.prepare(
      `DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks WHERE channel = @channel AND ${FINISHED} AND seq <= @boundary ORDER BY seq LIMIT @room)`,
    );
    const claimsDue = `FROM work_claims WHERE ${ENDED_CLAIM} AND ${CLAIM_ENDED_AT} < ?`;
    this.claimDue = db.prepare(`SELECT 1 ${claimsDue} LIMIT 1`).pluck() as Statement<[number], number>;
    this.oldClaims = db.prepare(`DELETE FROM work_claims WHERE seq IN (SELECT seq ${claimsDue} ORDER BY ${CLAIM_ENDED_AT} LIMIT ?)`);
    this.threadsDue = db.prepare(`SELECT id FROM threads WHERE ${ENDED_THREAD} AND updated_at < ? ORDER BY updated_at, id LIMIT ?`).pluck() as Statement<
      [number, number],
      string
    >;
    // A thread goes with its messages and participants (they reference it).
    this.threadParts = [
      'DELETE FROM thread_messages WHERE thread_id = ?',
      'DELETE FROM thread_participants WHERE thread_id = ?',
      'DELETE FROM threads WHERE id = ?',
    ].map((sql) => db.prepare<[string]>(sql));
  }

  messages(at: number, budget: number): number {
    const { messagesBefore } = retentionCutoffs(this.ctx.options, at);
    let deleted = 0;
    if (messagesBefore !== undefined) {
      // Ids grow with time: the messages due are a prefix in id order, read until the first one that is not.
      let upTo: number | undefined;
      let seen = 0;
      for (const m of this.oldest.iterate()) {
        if (m.sent_at >= messagesBefore || seen === budget) break;
        upTo = m.id;
        seen += 1;
      }
      if (upTo !== undefined) {
        const last = upTo;
        deleted += this.write(() => {
          this.inboxUpTo.run(last);
          return this.messagesUpTo.run(last).changes;
        });
      }
    }
    const keep = this.ctx.options.message_retention_count;
    if (keep > 0) {
      for (const channel of this.channels.all()) {
        if (deleted >= budget) break;
        const boundary = this.messageBoundary.get(channel, keep);
        if (boundary === undefined) continue;
        const room = budget - deleted;
        deleted += this.write(() => {
          this.inboxInChannel.run({ channel, boundary, room });
          return this.messagesInChannel.run({ channel, boundary, room }).changes;
        });
      }
    }
    if (deleted > 0) this.ctx.cache.clear();
    return deleted;
  }

  tasks(at: number, budget: number): number {
    const { tasksBefore } = retentionCutoffs(this.ctx.options, at);
    let deleted = 0;
    if (tasksBefore !== undefined && this.taskDue.get(tasksBefore) !== undefined) {
      deleted += this.write(() => this.oldTasks.run(tasksBefore, budget).changes);
    }
    const keep = this.ctx.options.task_retention_count;
    if (keep > 0) {
      for (const channel of this.channels.all()) {
        if (deleted >= budget) break;
        const boundary = this.taskBoundary.get(channel, keep);
        if (boundary === undefined) continue;
        const room = budget - deleted;
        deleted += this.write(() => this.tasksInChannel.run({ channel, boundary, room }).changes);
      }
    }
    return deleted;
  }

  claims(at: number, budget: number): number {
    const { claimsBefore } = retentionCutoffs(this.ctx.options, at);
    if (claimsBefore === undefined || this.claimDue.get(claimsBefore) === undefined) return 0;
    const deleted = this.write(() => this.oldClaims.run(claimsBefore, budget).changes);
    if (deleted > 0) this.ctx.cache.clear();
    return deleted;
  }

  threads(at: number, budget: number): number {
    const { threadsBefore } = retentionCutoffs(this.ctx.options, at);
    if (threadsBefore === undefined || this.threadsDue.all(threadsBefore, 1).length === 0) return 0;
    // Chosen inside the write transaction, so a thread acted on meanwhile is judged by its new state.
    const deleted = this.write(() => {
      const due = this.threadsDue.all(threadsBefore, budget);
      for (const id of due) for (const part of this.threadParts) part.run(id);
      return due.length;
    });
    if (deleted > 0) this.ctx.cache.clear();
    return deleted;
  }

  /** One IMMEDIATE transaction, unless the store closed meanwhile. */
  private write(work: () => number): number {
    if (this.ctx.isClosed()) return 0;
    return this.ctx.db.transaction(work).immediate();
  }
}
