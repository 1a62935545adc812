import { type RetentionBatches, retentionCutoffs } from '../retention.js';
import { type PgContext, row, rows, write } from './context.js';

const FINISHED = `status IN ('complete', 'failed')`;

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
        deleted += await this.write(async (q) => {
          await q('DELETE FROM inbox WHERE message_id <= $1', [last]);
          return q('DELETE FROM messages WHERE id <= $1', [last]);
        });
      }
    }
    const keep = this.ctx.options.message_retention_count;
    if (keep > 0) {
      for (const { name } of await rows<{ name: string }>(pool, 'SELECT name FROM channels ORDER BY name')) {
        if (deleted >= budget) break;
        const boundary = await row<{ id: number }>(pool, 'SELECT id FROM messages WHERE channel = $1 ORDER BY id DESC LIMIT 1 OFFSET $2', [name, keep]);
        if (boundary === undefined) continue;
        const room = budget - deleted;
        const batch = 'SELECT id FROM messages WHERE channel = $1 AND id <= $2 ORDER BY id LIMIT $3';
        deleted += await this.write(async (q) => {
          await q(`DELETE FROM inbox WHERE message_id IN (${batch})`, [name, boundary.id, room]);
          return q(`DELETE FROM messages WHERE id IN (${batch})`, [name, boundary.id, room]);
        });
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

  /** One write transaction; `q` runs a statement and gives the rows it changed. */
  private async write(work: (q: (sql: string, params: unknown[]) => Promise<number>) => Promise<number>): Promise<number> {
    if (this.ctx.isClosed()) return 0;
    return write(this.ctx, (tx) => work(async (sql, params) => (await tx.query(sql, params)).rowCount ?? 0));
  }
}
