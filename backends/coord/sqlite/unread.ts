import type { Database, Statement } from 'better-sqlite3';
import { UNREAD_COUNT_CAP, unreadSql } from '../unread-sql.js';
import { ident } from '../validate.js';
import type { SqliteContext } from './context.js';

/** Messages waiting past the agent's cursors, all channels (unread-sql.ts); with `cap`, counted up to that many. */
export function unreadStatement(db: Database, cap?: number): Statement<[{ agent: string }], { n: number }> {
  return db.prepare(unreadSql('sqlite', cap));
}

/** The number of messages waiting for an agent, up to UNREAD_COUNT_CAP, for the `_meta.unread` of every tool answer. */
export class SqliteUnread {
  private readonly count: Statement<[{ agent: string }], { n: number }>;

  constructor(ctx: SqliteContext) {
    this.count = unreadStatement(ctx.db, UNREAD_COUNT_CAP);
  }

  of(agentId: string): number {
    return this.count.get({ agent: ident(agentId, 'agent_id') })?.n ?? 0;
  }
}
