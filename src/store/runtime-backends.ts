import type { GatewayDatabase } from './database.js';

/** A backend added at runtime, as it was given. */
export interface StoredBackend {
  name: string;
  /** The entry as POSTed to /server/add (validated by the TOML schema on every load). */
  entry: Record<string, unknown>;
  added_at: string;
}

/**
 * Where runtime changes to the backend list live, so they survive a
 * restart without rewriting stonegate.toml. An interface, so a shared
 * PostgreSQL store can take the SQLite one's place.
 */
export interface RuntimeBackendStore {
  list(): Promise<StoredBackend[]>;
  /** Names of file backends removed at runtime. */
  removed(): Promise<Set<string>>;
  add(name: string, entry: Record<string, unknown>): Promise<void>;
  /** Forgets a runtime backend, or records that a file backend was removed; either way its enabled override goes. */
  remove(name: string, origin: 'file' | 'runtime'): Promise<void>;
  /** `enabled` as POST /server/stop (false) and /server/start or /server/restart (true) left it, by name; it wins over the entry's. */
  enabledOverrides(): Promise<Map<string, boolean>>;
  setEnabled(name: string, enabled: boolean): Promise<void>;
  /**
   * Shared stores only: calls `onChange` with the name of every backend that
   * any gateway on the store adds, removes, stops or starts from now on (this
   * one included), and `onGap` when the listening connection was lost and is
   * back: changes made meanwhile were not heard, and everything is read
   * again. Resolves with how to stop.
   */
  subscribe?(onChange: (name: string) => void, onGap: () => void): Promise<() => Promise<void>>;
}

export class SqliteRuntimeBackendStore implements RuntimeBackendStore {
  readonly #db: GatewayDatabase;

  constructor(db: GatewayDatabase) {
    this.#db = db;
  }

  async list(): Promise<StoredBackend[]> {
    const rows = this.#db.prepare('SELECT name, entry, added_at FROM runtime_backends ORDER BY added_at, name').all() as {
      name: string;
      entry: string;
      added_at: string;
    }[];
    return rows.map((r) => ({ name: r.name, entry: JSON.parse(r.entry) as Record<string, unknown>, added_at: r.added_at }));
  }

  async removed(): Promise<Set<string>> {
    const rows = this.#db.prepare('SELECT name FROM removed_backends').all() as { name: string }[];
    return new Set(rows.map((r) => r.name));
  }

  async add(name: string, entry: Record<string, unknown>): Promise<void> {
    this.#db
      .prepare('INSERT OR REPLACE INTO runtime_backends (name, entry, added_at) VALUES (?, ?, ?)')
      .run(name, JSON.stringify(entry), new Date().toISOString());
  }

  async remove(name: string, origin: 'file' | 'runtime'): Promise<void> {
    this.#db.prepare('DELETE FROM runtime_backends WHERE name = ?').run(name);
    this.#db.prepare('DELETE FROM backend_enabled WHERE name = ?').run(name);
    // A file backend stays removed; a runtime backend of the same name added
    // later takes its place (runtime entries win over file entries on load).
    if (origin === 'file') this.#db.prepare('INSERT OR REPLACE INTO removed_backends (name, removed_at) VALUES (?, ?)').run(name, new Date().toISOString());
  }

  async enabledOverrides(): Promise<Map<string, boolean>> {
    const rows = this.#db.prepare('SELECT name, enabled FROM backend_enabled').all() as { name: string; enabled: number }[];
    return new Map(rows.map((r) => [r.name, r.enabled === 1]));
  }

  async setEnabled(name: string, enabled: boolean): Promise<void> {
    this.#db
      .prepare('INSERT OR REPLACE INTO backend_enabled (name, enabled, changed_at) VALUES (?, ?, ?)')
      .run(name, enabled ? 1 : 0, new Date().toISOString());
  }
}
