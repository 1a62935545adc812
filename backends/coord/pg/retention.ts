import { CLAIM_ENDED_AT, ENDED_CLAIM, ENDED_THREAD, type RetentionBatches, retentionCutoffs } from '../retention.js';
import { type PgContext, row, rows, write } from './context.js';

const FINISHED = `status IN ('complete', 'failed')`;

/**
 * Deletes the messages `where` picks (its rows changed: the messages) and their inbox rows, in one statement: one
 * snapshot picks both, and a message's inbox rows commit with it, so no inbox row outlives its message, nor a message
 * that commits meanwhile goes without being picked (since schema 12 no foreign key refuses that: pg/read-functions.ts).
 */
function deleteMessages(where: string): string {
  return `WITH due AS (SELECT id FROM messages WHERE ${where} FOR UPDATE), copies AS (DELETE FROM inbox WHERE message_id IN (SELECT id FROM due))
    DELETE FROM messages WHERE id IN (SELECT id FROM due)`;
}

/**
 * Retention batches on PostgreSQL (retention.ts). Each looks first without
 * the lock and deletes under the store's write lock only when something is
 * due; several gateways on one database may run them at once (a row is
 * deleted once, the others find nothing).
 */
export class PgRetention implements RetentionBatches {
  constructor(private readonly ctx: PgContext) {}

  async messages(at: number, budget: number): Promise<number> {
    const { messagesBefore } = retentionCutoffs(this.ctx.options, at);
    const { pool } = this.ctx;
    let deleted = 0;
    if (messagesBefore !== undefined) {
      // Ids grow with time: the messages due are a prefix in id order, up to the first one that is not.
      const head = await rows<{ id: number; sent_at: number }>(pool, 'SELECT id, sent_at FROM messages ORDER BY id LIMIT $1', [budget]);
      let upTo: number | undefined;
      for (const m of head) {
        if (m.sent_at >= messagesBefore) break;
        upTo = m.id;
      }
      if (upTo !== undefined) {
        const last = upTo;
        // Only what is due: a message that committed since the head was read may hold a lower id and be fresh.
        deleted += await this.write((q) => q(deleteMessages('id <= $1 AND sent_at < $2'), [last, messagesBefore]));
      }
    }
    const keep = this.ctx.options.message_retention_count;
    if (keep > 0) {
      for (const { name } of await rows<{ name: string }>(pool, 'SELECT name FROM channels ORDER BY name')) {
        if (deleted >= budget) break;
        const boundary = await row<{ id: number }>(pool, 'SELECT id FROM messages WHERE channel = $1 ORDER BY id DESC LIMIT 1 OFFSET $2', [name, keep]);
        if (boundary === undefined) continue;
        const room = budget - deleted;
        deleted += await this.write((q) => q(deleteMessages('channel = $1 AND id <= $2 ORDER BY id LIMIT $3'), [name, boundary.id, room]));
      }
    }
    return deleted;
  }

  async tasks(at: number, budget: number): Promise<number> {
    const { tasksBefore } = retentionCutoffs(this.ctx.options, at);
    const { pool } = this.ctx;
    let deleted = 0;
    if (tasksBefore !== undefined && (await row(pool, `SELECT 1 FROM tasks WHERE ${FINISHED} AND completed_at < $1 LIMIT 1`, [tasksBefore])) !== undefined) {
      deleted += await this.write((q) =>
        q(`DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks WHERE ${FINISHED} AND completed_at < $1 ORDER BY completed_at LIMIT $2)`, [
          tasksBefore,
          budget,
        ]),
      );
    }
    const keep = this.ctx.options.task_retention_count;
    if (keep > 0) {
      for (const { name } of await rows<{ name: string }>(pool, 'SELECT name FROM channels ORDER BY name')) {
        if (deleted >= budget) break;
        const boundary = await row<{ seq: number }>(pool, `SELECT seq FROM tasks WHERE channel = $1 AND ${FINISHED} ORDER BY seq DESC LIMIT 1 OFFSET $2`, [
          name,
          keep,
        ]);
        if (boundary === undefined) continue;
        const room = budget - deleted;
        deleted += await this.write((q) =>
          q(`DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks WHERE channel = $1 AND ${FINISHED} AND seq <= $2 ORDER BY seq LIMIT $3)`, [
            name,
            boundary.seq,
            room,
          ]),
        );
      }
    }
    return deleted;
  }

  async claims(at: number, budget: number): Promise<number> {
    const { claimsBefore } = retentionCutoffs(this.ctx.options, at);
    if (claimsBefore === undefined) return 0;
    const due = `FROM work_claims WHERE ${ENDED_CLAIM} AND ${CLAIM_ENDED_AT} < $1`;
    if ((await row(this.ctx.pool, `SELECT 1 ${due} LIMIT 1`, [claimsBefore])) === undefined) return 0;
    return this.write((q) => q(`DELETE FROM work_claims WHERE seq IN (SELECT seq ${due} ORDER BY ${CLAIM_ENDED_AT} LIMIT $2)`, [claimsBefore, budget]));
  }

  async threads(at: number, budget: number): Promise<number> {
    const { threadsBefore } = retentionCutoffs(this.ctx.options, at);
    if (threadsBefore === undefined) return 0;
    const due = `SELECT id FROM threads WHERE ${ENDED_THREAD} AND updated_at < $1 ORDER BY updated_at, id LIMIT $2`;
    if ((await row(this.ctx.pool, due, [threadsBefore, 1])) === undefined) return 0;
    // Chosen under the write lock, so a thread acted on meanwhile is judged by its new state; its messages and participants go with it.
    return this.write(async (q) => {
      await q(`DELETE FROM thread_messages WHERE thread_id IN (${due})`, [threadsBefore, budget]);
      await q(`DELETE FROM thread_participants WHERE thread_id IN (${due})`, [threadsBefore, budget]);
      return q(`DELETE FROM threads WHERE id IN (${due})`, [threadsBefore, budget]);
    });
  }

  /** One write transaction; `q` runs a statement and gives the rows it changed. */
  private async write(work: (q: (sql: string, params: unknown[]) => Promise<number>) => Promise<number>): Promise<number> {
    if (this.ctx.isClosed()) return 0;
    return write(this.ctx, (tx) => work(async (sql, params) => (await tx.query(sql, params)).rowCount ?? 0));
  }
}
