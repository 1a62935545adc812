import type pg from 'pg';
import { PgListener } from '../../../kit/pg-listener.js';
import type { PgSettings } from '../../../kit/pg-pool.js';
import type { RuntimeBackendStore, StoredBackend } from '../runtime-backends.js';
import { type BackendsChannel, BACKENDS_CHANNEL as CHANNEL, TOOLS_PAYLOAD } from './backends-channel.js';

/**
 * Runtime backend changes in the shared PostgreSQL, so every gateway on it
 * loads the same list; each change is NOTIFYed (at commit) so that running
 * gateways apply it too.
 */
export class PgRuntimeBackendStore implements RuntimeBackendStore {
  readonly #pool: pg.Pool;
  readonly #settings: PgSettings | undefined;
  readonly #channel: BackendsChannel | undefined;

  /** `settings` (how to open a listening connection) or `channel` (the gateway's open one, #31) enables subscribe(). */
  constructor(pool: pg.Pool, settings?: PgSettings, channel?: BackendsChannel) {
    this.#pool = pool;
    this.#settings = settings;
    this.#channel = channel;
  }

  async list(): Promise<StoredBackend[]> {
    const { rows } = await this.#pool.query<{ name: string; entry: string; added_at: string }>(
      'SELECT name, entry, added_at FROM runtime_backends ORDER BY added_at, name',
    );
    return rows.map((r) => ({ name: r.name, entry: JSON.parse(r.entry) as Record<string, unknown>, added_at: r.added_at }));
  }

  async removed(): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ name: string }>('SELECT name FROM removed_backends');
    return new Set(rows.map((r) => r.name));
  }

  async add(name: string, entry: Record<string, unknown>): Promise<void> {
    await this.#pool.query(
      `WITH saved AS (
         INSERT INTO runtime_backends (name, entry, added_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET entry = EXCLUDED.entry, added_at = EXCLUDED.added_at RETURNING name)
       SELECT pg_notify('${CHANNEL}', name) FROM saved`,
      [name, JSON.stringify(entry), new Date().toISOString()],
    );
  }

  async remove(name: string, origin: 'file' | 'runtime'): Promise<void> {
    // Both in one statement, so another gateway never sees one without the other.
    await this.#pool.query(
      `WITH gone AS (DELETE FROM runtime_backends WHERE name = $1),
            reset AS (DELETE FROM backend_enabled WHERE name = $1),
            kept AS (INSERT INTO removed_backends (name, removed_at) SELECT $1, $2 WHERE $3
                     ON CONFLICT (name) DO UPDATE SET removed_at = EXCLUDED.removed_at)
       SELECT pg_notify('${CHANNEL}', $1)`,
      [name, new Date().toISOString(), origin === 'file'],
    );
  }

  async enabledOverrides(): Promise<Map<string, boolean>> {
    const { rows } = await this.#pool.query<{ name: string; enabled: boolean }>('SELECT name, enabled FROM backend_enabled');
    return new Map(rows.map((r) => [r.name, r.enabled]));
  }

  async setEnabled(name: string, enabled: boolean): Promise<void> {
    await this.#pool.query(
      // NOTIFYed as an entry change is: the running gateways stop or start it too (Roster.reconcile).
      `WITH saved AS (
         INSERT INTO backend_enabled (name, enabled, changed_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET enabled = EXCLUDED.enabled, changed_at = EXCLUDED.changed_at RETURNING name)
       SELECT pg_notify('${CHANNEL}', name) FROM saved`,
      [name, enabled, new Date().toISOString()],
    );
  }

  async subscribe(onChange: (name: string) => void, onGap: () => void): Promise<() => Promise<void>> {
    if (this.#channel !== undefined) return this.#channel.onBackend(onChange, onGap);
    if (this.#settings === undefined) throw new Error('this PgRuntimeBackendStore was opened without settings to listen with');
    // The channel is per database; a schema of its own (tests) shares it, which costs a needless reconcile at most.
    const listener = await PgListener.open(
      this.#settings,
      CHANNEL,
      (payload) => {
        if (!payload.startsWith(TOOLS_PAYLOAD)) onChange(payload); // fingerprint changes share the channel
      },
      onGap,
    );
    return () => listener.close();
  }
}
