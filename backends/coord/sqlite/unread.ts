import type { Database, Statement } from 'better-sqlite3';
import { ident } from '../validate.js';
import type { SqliteContext } from './context.js';

/**
 * Messages waiting in an agent's inboxes past its cursors, all channels.
 * The channels the agent has mail in are found by skipping along inbox's
 * primary key (recipient, channel, message_id) one channel at a time, and
 * each channel counts only the entries past its cursor: the cost follows the
 * unread messages and the channels, not every message the agent ever got.
 */
export const UNREAD_SQL = `
  WITH RECURSIVE channels(name) AS (
    SELECT MIN(channel) FROM inbox WHERE recipient = @agent
    UNION ALL
    SELECT (SELECT MIN(channel) FROM inbox WHERE recipient = @agent AND channel > name) FROM channels WHERE name IS NOT NULL
  )
  SELECT COALESCE(SUM((
    SELECT COUNT(*) FROM inbox i
    WHERE i.recipient = @agent AND i.channel = channels.name
      AND i.message_id > COALESCE((SELECT position FROM cursors c WHERE c.agent_id = @agent AND c.channel = channels.name), 0)
  )), 0) AS n
  FROM channels WHERE name IS NOT NULL`;

/** The statement of UNREAD_SQL on `db`. */
export function unreadStatement(db: Database): Statement<[{ agent: string }], { n: number }> {
  return db.prepare(UNREAD_SQL);
}

/** The number of messages waiting for an agent, for the `_meta.unread` of every tool answer. */
export class SqliteUnread {
  private readonly count: Statement<[{ agent: string }], { n: number }>;

  constructor(ctx: SqliteContext) {
    this.count = unreadStatement(ctx.db);
  }

  of(agentId: string): number {
    return this.count.get({ agent: ident(agentId, 'agent_id') })?.n ?? 0;
  }
}
