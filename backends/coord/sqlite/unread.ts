import type { Statement } from 'better-sqlite3';
import { ident } from '../validate.js';
import type { SqliteContext } from './context.js';

/**
 * The number of messages waiting in an agent's inboxes past its cursors, for
 * the `_meta.unread` of every tool answer. One indexed range count per
 * channel the agent has mail in (inbox's primary key starts with the
 * recipient), so it stays cheap on every call.
 */
export class SqliteUnread {
  private readonly count: Statement<[string, string], { n: number }>;

  constructor(ctx: SqliteContext) {
    this.count = ctx.db.prepare(
      `SELECT COUNT(*) AS n FROM inbox i
       LEFT JOIN cursors c ON c.agent_id = ? AND c.channel = i.channel
       WHERE i.recipient = ? AND i.message_id > COALESCE(c.position, 0)`,
    );
  }

  of(agentId: string): number {
    const id = ident(agentId, 'agent_id');
    return this.count.get(id, id)?.n ?? 0;
  }
}
