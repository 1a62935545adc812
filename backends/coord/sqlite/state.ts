import type { Statement } from 'better-sqlite3';
import { longPoll, topics } from '../../../kit/notifier.js';
import { CoordError } from '../errors.js';
import { type StateRow, toEntry } from '../rows.js';
import { assertVersion, SHUTDOWN, stateWrite } from '../rules.js';
import type { SetStateInput, StateEntry, WatchStateInput, WatchStateResult } from '../types.js';
import { channelName, ident, pollTimeoutMs, position } from '../validate.js';
import type { SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';

/**
 * Versioned key-value state per channel. Versions start at 1 and grow by one
 * per write; version 0 means "never set", so expected_version 0 is
 * create-if-absent. A CAS mismatch is CONFLICT carrying the current entry, so
 * the caller can retry without another read.
 */
export class SqliteState {
  private readonly read: Statement<[string, string], StateRow>;
  private readonly write: Statement<[StateRow]>;

  constructor(
    private readonly ctx: SqliteContext,
    private readonly events: SqliteEvents,
  ) {
    const { db } = ctx;
    this.read = db.prepare('SELECT * FROM state WHERE channel = ? AND key = ?');
    this.write = db.prepare(
      `INSERT INTO state (channel, key, value, version, updated_by, updated_at)
       VALUES (@channel, @key, @value, @version, @updated_by, @updated_at)
       ON CONFLICT (channel, key) DO UPDATE SET
         value = excluded.value, version = excluded.version, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
    );
  }

  get(key: string, channel: string | undefined): StateEntry {
    const c = channelName(channel);
    const k = ident(key, 'key', 256);
    return toEntry(c, k, this.read.get(c, k));
  }

  set(input: SetStateInput): StateEntry {
    const { channel, key, value, expected, updatedBy } = stateWrite(input, this.ctx.options);
    const entry = this.ctx.db
      .transaction((): StateEntry => {
        const at = this.ctx.now();
        const current = this.read.get(channel, key);
        const version = current?.version ?? 0;
        assertVersion(channel, key, expected, current);
        this.ctx.ensureChannel(channel, updatedBy, at);
        const row: StateRow = { channel, key, value, version: version + 1, updated_by: updatedBy, updated_at: at };
        this.write.run(row);
        this.ctx.appendEvent('state_changed', channel, { key, value: input.value, version: row.version, updated_by: updatedBy }, at);
        return toEntry(channel, key, row);
      })
      .immediate();
    this.ctx.notifier.notify(topics.state(channel, key));
    this.events.committed();
    return entry;
  }

  async watch(input: WatchStateInput): Promise<WatchStateResult> {
    const channel = channelName(input.channel);
    const key = ident(input.key, 'key', 256);
    const timeoutMs = pollTimeoutMs(input.timeout_ms, this.ctx.options);
    const after = position(input.after_version, 'after_version') ?? this.read.get(channel, key)?.version ?? 0;
    const changed = await longPoll(this.ctx.notifier, topics.state(channel, key), timeoutMs, input.signal, () => {
      const row = this.read.get(channel, key);
      return row !== undefined && row.version > after ? row : undefined;
    });
    if (changed !== undefined) return { ...toEntry(channel, key, changed), changed: true };
    if (this.ctx.isClosed()) throw new CoordError('UNAVAILABLE', SHUTDOWN.watch);
    return { ...toEntry(channel, key, this.read.get(channel, key)), changed: false };
  }
}
