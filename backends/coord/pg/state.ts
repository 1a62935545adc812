import { topics } from '../../../kit/notifier.js';
import { CoordError } from '../errors.js';
import { type StateRow, toEntry } from '../rows.js';
import { assertVersion, SHUTDOWN, stateWrite } from '../rules.js';
import type { SetStateInput, StateEntry, WatchStateInput, WatchStateResult } from '../types.js';
import { channelName, ident, pollTimeoutMs, position } from '../validate.js';
import { type PgContext, type Queryable, row, write } from './context.js';
import { longPollAsync } from './long-poll.js';

/**
 * Versioned key-value state on PostgreSQL. A write reads the current version
 * and writes the next one inside one transaction holding the key's advisory
 * lock, so a CAS (expected_version) holds across gateways; the key's topic is NOTIFYed at
 * commit, so a watch on any gateway wakes.
 */
export class PgState {
  constructor(private readonly ctx: PgContext) {}

  async get(key: string, channel: string | undefined): Promise<StateEntry> {
    const c = channelName(channel);
    const k = ident(key, 'key', 256);
    return toEntry(c, k, await this.read(this.ctx.pool, c, k));
  }

  set(input: SetStateInput): Promise<StateEntry> {
    const w = stateWrite(input, this.ctx.options);
    return write(
      this.ctx,
      async (tx) => {
        const at = this.ctx.now();
        const current = await this.read(tx, w.channel, w.key, true);
        assertVersion(w.channel, w.key, w.expected, current);
        await tx.ensureChannel(w.channel, w.updatedBy, at);
        const saved: StateRow = {
          channel: w.channel,
          key: w.key,
          value: w.value,
          version: (current?.version ?? 0) + 1,
          updated_by: w.updatedBy,
          updated_at: at,
        };
        await tx.query(
          `INSERT INTO state (channel, key, value, version, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
          [saved.channel, saved.key, saved.value, saved.version, saved.updated_by, saved.updated_at],
        );
        await tx.appendEvent('state_changed', w.channel, { key: w.key, value: input.value, version: saved.version, updated_by: w.updatedBy }, at);
        tx.notify(topics.state(w.channel, w.key));
        return toEntry(w.channel, w.key, saved);
        // The key's own lock, not the store's ([pg-speed]): a CAS needs only writers of this key in turn, a new key included
        // (which has no row to lock yet); events are ordered by their watermark (migration-lockfree.ts).
      },
      { key: `state ${w.channel}\u001f${w.key}` },
    );
  }

  async watch(input: WatchStateInput): Promise<WatchStateResult> {
    const channel = channelName(input.channel);
    const key = ident(input.key, 'key', 256);
    const timeoutMs = pollTimeoutMs(input.timeout_ms, this.ctx.options);
    const after = position(input.after_version, 'after_version') ?? (await this.read(this.ctx.pool, channel, key))?.version ?? 0;
    const changed = await longPollAsync(
      this.ctx.notifier,
      topics.state(channel, key),
      timeoutMs,
      input.signal,
      async () => {
        const found = await this.read(this.ctx.pool, channel, key);
        return found !== undefined && found.version > after ? found : undefined;
      },
      this.ctx.recheckMs,
    );
    if (changed !== undefined) return { ...toEntry(channel, key, changed), changed: true };
    if (this.ctx.isClosed()) throw new CoordError('UNAVAILABLE', SHUTDOWN.watch);
    return { ...toEntry(channel, key, await this.read(this.ctx.pool, channel, key)), changed: false };
  }

  private read(db: Queryable, channel: string, key: string, forUpdate = false): Promise<StateRow | undefined> {
    return row<StateRow>(db, `SELECT * FROM state WHERE channel = $1 AND key = $2${forUpdate ? ' FOR UPDATE' : ''}`, [channel, key]);
  }
}
