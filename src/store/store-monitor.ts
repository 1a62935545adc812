import { join } from 'node:path';
import type { SqliteFileWatch } from '../../kit/sqlite-file-watch.js';
import type { Logger } from '../log.js';

/** The status of one named condition of GET /health. */
export type CheckStatus = 'ok' | 'degraded' | 'down';

/** The `store` entry of GET /health's checks. */
export interface StoreCheck {
  status: CheckStatus;
  /** What is wrong and what to do, or what is in use when all is well. */
  detail: string;
  /** One sentence per unusable store (empty when all are usable). */
  problems: string[];
  /** [pg-speed] Checks of their own beside `store` (GET /health's `checks`): `fingerprints` with a shared fingerprint store. */
  named?: Record<string, { status: CheckStatus; detail: string }>;
}

/** What the monitor reads; the composition root fills it. */
export interface StoreMonitorSources {
  /** data_dir/stonegate.db: without it async calls, runtime backends, pins and the audit log fail (down). */
  gateway: SqliteFileWatch;
  /**
   * The coordination store's own health, when [coordination] is on: a problem with its SQLite file leaves routing up
   * (degraded); one with PostgreSQL ([store] url, the gateway's shared stores too) is down.
   */
  coord?: () => Promise<{ store: string; problem?: string }>;
  /** data_dir: /health, which needs no token, names files relative to it (the log has the whole path). */
  dataDir: string;
  logger: Logger;
  /**
   * [pg-speed] The gateway's stores: a shared fingerprint store (PostgreSQL) reports its failing writes as GET /health's
   * `fingerprints` check, and `problem` says whether `[store] url` answers (asked when no coordination store on it did).
   */
  shared?: { fingerprints: { problem?(): string | undefined }; problem?(): Promise<string | undefined> };
}

/** How often the monitor looks without being asked, so that a deleted file is logged even when no one polls /health. */
const CHECK_EVERY_MS = 5_000;

/**
 * Watches the stores' files for GET /health: deleted or replaced while the
 * gateway runs, or failing queries (corrupt). Each new problem is logged
 * once at error level, so that it is never silent.
 */
export class StoreMonitor {
  readonly #sources: StoreMonitorSources;
  readonly #logged = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(sources: StoreMonitorSources) {
    this.#sources = sources;
  }

  /** Records a driver error a route met on the gateway database; true when it was a storage error. */
  note(error: unknown): boolean {
    return this.#sources.gateway.note(error);
  }

  /** The state of every store now. */
  async check(): Promise<StoreCheck> {
    const gateway = this.#sources.gateway.check();
    let coord: { store: string; problem?: string } | undefined;
    try {
      coord = await this.#sources.coord?.();
    } catch (error) {
      coord = { store: 'coordination', problem: `the coordination store did not answer a health check: ${(error as Error).message}` };
    }
    // [pg-speed] [store] url holds async calls, runtime backends, approvals and the audit log with [coordination] off too:
    // asked here unless the coordination store on PostgreSQL (the same database) was.
    const probesDatabase = this.#sources.shared?.problem !== undefined && coord?.store !== 'postgres';
    const database = probesDatabase ? await this.#sources.shared?.problem?.() : undefined;
    const found = [gateway.problem, coord?.problem, database].filter((p): p is string => p !== undefined);
    for (const problem of found) {
      if (this.#logged.has(problem)) continue;
      this.#logged.add(problem);
      this.#sources.logger.error({ problem }, 'store unusable');
    }
    // [pg-speed] A coordination store on PostgreSQL is [store] url, which also holds the gateway's shared stores (async calls,
    // runtime backends, approvals, the audit log): the gateway database is not usable, so down, as a broken stonegate.db is.
    const shared = (coord?.problem !== undefined && coord.store === 'postgres') || database !== undefined;
    const status: CheckStatus = gateway.problem !== undefined || shared ? 'down' : coord?.problem !== undefined ? 'degraded' : 'ok';
    const problems = found.map((p) => this.#relative(p));
    const also = coord === undefined ? '' : ` and the ${coord.store} coordination store`;
    const inUse = `${this.#relative(gateway.path)}${also}${probesDatabase ? ' and the [store] url database' : ''} usable`;
    const check: StoreCheck = { status, detail: problems.length === 0 ? inUse : problems.join('; '), problems };
    const fingerprints = this.#sources.shared?.fingerprints;
    if (fingerprints?.problem !== undefined) {
      // Degraded, not down: approvals already read still apply; only what changes meanwhile is not shared.
      const problem = fingerprints.problem();
      check.named = {
        fingerprints:
          problem === undefined
            ? { status: 'ok', detail: 'tool fingerprints and approvals shared through the store' }
            : { status: 'degraded', detail: problem },
      };
    }
    return check;
  }

  /** `text` with data_dir's path written `data_dir`. */
  #relative(text: string): string {
    return text.split(join(this.#sources.dataDir, '/')).join('data_dir/');
  }

  /** Checks every few seconds in the background (unref'd). */
  start(): void {
    this.#timer ??= setInterval(() => void this.check().catch(() => undefined), CHECK_EVERY_MS).unref();
  }

  /** Stops the background checks. Idempotent. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
