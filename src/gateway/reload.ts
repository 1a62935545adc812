import { createHash } from 'node:crypto';
import { existsSync, type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isLoopbackHost } from '../../kit/loopback.js';
import type { Security } from '../auth/security.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { diffBackends, planConfig, type ReloadStatus, type ReloadTrigger } from '../config/reload-diff.js';
import type { Config } from '../config/schema.js';
import type { HealthReport } from '../views/health-report.js';
import { worstOf } from '../views/health-report.js';
import { applyBackends, type BackendTarget } from './reload-backends.js';

/** What a reload reads and swaps. */
export interface ReloadTarget extends BackendTarget {
  config: Config;
  readonly security: Pick<Security, 'reload'>;
}

/** Quiet time after the last change on disk before the file is read (editors write in several steps). */
const DEBOUNCE_MS = 300;

const revisionOf = (file: string | undefined): string | undefined => {
  if (file === undefined) return undefined;
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
  } catch {
    return undefined;
  }
};

/**
 * Reloads stonegate.toml while the gateway serves (docs/configuration.md
 * "Live configuration"): on a change on disk, SIGHUP, POST /config/reload or
 * `stonegate reload`. The file is read and validated whole before anything
 * changes; one reload runs at a time, and triggers meanwhile fold into one
 * more run after it.
 */
export class ConfigReloader {
  readonly #target: ReloadTarget;
  readonly #load: () => Config;
  #last: ReloadStatus;
  #running: Promise<ReloadStatus> | undefined;
  #queued: Promise<ReloadStatus> | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The revision a reload under way is applying (a change on disk to it is no news). */
  #applying: string | undefined;

  /** `load` reads the file again with the command line's overrides (the default: the file alone). */
  constructor(target: ReloadTarget, load?: () => Config) {
    this.#target = target;
    const file = target.config.file;
    this.#load =
      load ??
      (() => {
        if (file === undefined) throw new ConfigError('the gateway serves the embedded defaults (no config file); start it with -c FILE to reload');
        return loadConfig({ file, explicit: true });
      });
    this.#last = { status: 'ok', revision: revisionOf(file), at: new Date().toISOString(), trigger: 'start' };
  }

  /** The last reload's outcome (the start counts as the first). */
  status(): ReloadStatus {
    return this.#last;
  }

  /** Reloads now, or once more after the reload under way (every trigger meanwhile shares that run). */
  reload(trigger: ReloadTrigger): Promise<ReloadStatus> {
    if (this.#queued !== undefined) return this.#queued;
    if (this.#running !== undefined) {
      this.#queued = this.#running.then(() => {
        this.#queued = undefined;
        return this.#run(trigger);
      });
      return this.#queued;
    }
    return this.#run(trigger);
  }

  #run(trigger: ReloadTrigger): Promise<ReloadStatus> {
    const run = this.#apply(trigger).finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  async #apply(trigger: ReloadTrigger): Promise<ReloadStatus> {
    const { logger } = this.#target;
    const current = this.#target.config;
    const at = new Date().toISOString();
    let next: Config;
    try {
      next = this.#load();
      const open = next.auth.tokens.length === 0 && next.auth.oauth.issuer === '';
      if (open && !isLoopbackHost(current.server.host)) {
        throw new ConfigError(
          `${next.file ?? 'config'}: auth.tokens: the gateway listens on ${current.server.host}; a file without tokens would open it to anyone`,
        );
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#last = { status: 'error', revision: this.#last.revision, at, trigger, error: message };
      logger.error({ trigger, error: message }, 'config reload refused: the previous configuration keeps serving');
      return this.#last;
    }
    const revision = revisionOf(next.file);
    this.#applying = revision;
    const plan = planConfig(current, next);
    const diff = diffBackends(current.backends, plan.config.backends);
    // Readers of the config (views, limits) and the tokens see the new file from here on.
    this.#target.config = plan.config;
    this.#target.security.reload(plan.config);
    // Child loggers (each backend's, each stage's) follow the root's level.
    if (plan.config.logging.level !== current.logging.level) logger.level = plan.config.logging.level;
    try {
      await applyBackends(this.#target, diff);
    } catch (error) {
      // Not expected (starts and stops report through each backend's state); said rather than lost.
      logger.error({ trigger, error: (error as Error).message }, 'config reload: a backend change failed');
    }
    this.#applying = undefined;
    this.#last = {
      status: 'ok',
      revision,
      at,
      trigger,
      backends: {
        added: diff.added.map((b) => b.name),
        removed: [...diff.removed],
        restarted: diff.restarted.map((b) => b.name),
        updated: diff.updated.map((b) => b.name),
        unchanged: diff.unchanged.length,
      },
      needs_restart: [...plan.needsRestart],
    };
    logger.info({ trigger, revision, ...this.#last.backends, needs_restart: plan.needsRestart }, 'config reloaded');
    if (plan.needsRestart.length > 0) logger.warn({ keys: plan.needsRestart }, 'config keys changed that apply only after a restart of the gateway');
    return this.#last;
  }

  /**
   * Watches the config file's folder (editors save by writing a new file and
   * renaming it over the old one, which a watch on the file itself loses).
   */
  watch(): void {
    const file = this.#target.config.file;
    // A config built in memory (tests: '(test)') names no file to watch.
    if (file === undefined || !existsSync(file) || this.#watcher !== undefined || this.#closed) return;
    const name = basename(file);
    try {
      this.#watcher = watch(dirname(file), (_event, changed) => {
        // `..data`: a Kubernetes ConfigMap swaps the symlink the file goes through.
        if (changed !== null && changed !== name && !changed.startsWith('..')) return;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => void this.#onDisk(), DEBOUNCE_MS);
      });
      this.#watcher.on('error', (error) =>
        this.#target.logger.warn({ error: error.message }, 'config file watch ended; SIGHUP or POST /config/reload still reload'),
      );
    } catch (error) {
      this.#target.logger.warn({ error: (error as Error).message }, 'cannot watch the config file; SIGHUP or POST /config/reload reload it');
    }
  }

  async #onDisk(): Promise<void> {
    if (this.#closed) return;
    // A save that wrote the same bytes (or a touch) is no change.
    const revision = revisionOf(this.#target.config.file);
    if (revision !== undefined && revision === this.#applying) return;
    if (revision !== undefined && revision === this.#last.revision && this.#last.status === 'ok') return;
    await this.reload('file');
  }

  /** GET /health with a `reload` check: degraded while the file on disk is refused. The error text stays in GET /config (admin). */
  decorate(report: HealthReport): HealthReport {
    const { status, revision, at } = this.#last;
    report.checks.reload =
      status === 'ok'
        ? { status: 'ok', detail: 'the configuration file served is the last one loaded' }
        : { status: 'degraded', detail: 'the last reload of the configuration file was refused; the previous one keeps serving (GET /config shows why)' };
    report.status = worstOf(report.checks);
    report.reload = { status, revision, at };
    return report;
  }

  /** Stops watching; a reload under way finishes. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
