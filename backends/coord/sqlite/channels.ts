import type { Statement } from 'better-sqlite3';
import { CHANNEL_COLUMNS, type ChannelRow, toChannel, toStats } from '../rows.js';
import type { Channel, CoordStats, CreateChannelInput, CreateChannelResult, TaskStatus } from '../types.js';
import { channelName, optionalIdent } from '../validate.js';
import type { SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';

/** Channels (created explicitly or on first use) and the statistics over them. */
export class SqliteChannels {
  private readonly insert: Statement<[string, string | null, string | null, number]>;
  private readonly one: Statement<[string], ChannelRow>;
  private readonly all: Statement<[], ChannelRow>;

  constructor(
    private readonly ctx: SqliteContext,
    private readonly events: SqliteEvents,
  ) {
    const { db } = ctx;
    this.insert = db.prepare('INSERT OR IGNORE INTO channels (name, description, created_by, created_at) VALUES (?, ?, ?, ?)');
    this.one = db.prepare(`SELECT ${CHANNEL_COLUMNS} FROM channels c WHERE c.name = ?`);
    this.all = db.prepare(`SELECT ${CHANNEL_COLUMNS} FROM channels c ORDER BY c.name`);
  }

  /** Inside a transaction: records the channel if new and emits channel_created. */
  ensure(name: string, createdBy: string | null, at: number, description: string | null = null): boolean {
    const created = this.insert.run(name, description, createdBy, at).changes === 1;
    if (created) this.ctx.appendEvent('channel_created', name, { name, created_by: createdBy, description }, at);
    return created;
  }

  create(input: CreateChannelInput): CreateChannelResult {
    const name = channelName(input.name, 'name');
    const createdBy = optionalIdent(input.created_by, 'created_by');
    const description = input.description === undefined || input.description === '' ? null : input.description;
    const created = this.ctx.db.transaction(() => this.ensure(name, createdBy, this.ctx.now(), description)).immediate();
    if (created) this.events.committed();
    const row = this.one.get(name);
    if (row === undefined) throw new Error(`channel ${name} vanished after insert`);
    return { channel: toChannel(row), created };
  }

  list(): Channel[] {
    return this.all.all().map(toChannel);
  }

  stats(channel: string | undefined): CoordStats {
    const { prepare, now, options } = this.ctx;
    const scoped = channel === undefined ? null : channelName(channel);
    const staleBefore = now() - options.stale_threshold * 1000;
    const where = (alias: string): string => (scoped === null ? '1' : `${alias}.channel = @channel`);
    const agents = prepare(`SELECT COUNT(*) AS total, COALESCE(SUM(last_heartbeat >= @staleBefore), 0) AS active FROM agents a WHERE ${where('a')}`).get({
      channel: scoped,
      staleBefore,
    }) as { total: number; active: number };
    const messages = prepare(`SELECT COUNT(*) AS total, COALESCE(SUM(kind = 'direct'), 0) AS direct FROM messages m WHERE ${where('m')}`).get({
      channel: scoped,
    }) as { total: number; direct: number };
    const taskRows = prepare(`SELECT status, COUNT(*) AS n FROM tasks t WHERE ${where('t')} GROUP BY status`).all({ channel: scoped }) as Array<{
      status: TaskStatus;
      n: number;
    }>;
    const stateKeys = (prepare(`SELECT COUNT(*) AS n FROM state s WHERE ${where('s')}`).get({ channel: scoped }) as { n: number }).n;
    const channels = (prepare('SELECT COUNT(*) AS n FROM channels').get() as { n: number }).n;
    return toStats(scoped, { agents, messages, taskRows, stateKeys, channels, events: this.events.counts() });
  }
}
