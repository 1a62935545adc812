import { ConfigError, parseBackendEntry } from '../config/load.js';
import { checkRuntimeBackend } from '../config/runtime-policy.js';
import type { BackendConfig, Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RuntimeBackendStore } from '../store/runtime-backends.js';
import type { Backend, BackendState } from './backend.js';
import type { Supervisor } from './supervisor.js';

export interface RosterOptions {
  supervisor: Supervisor;
  store: RuntimeBackendStore;
  config: Config;
  logger: Logger;
  /** A backend stopped here that another gateway's POST /server/start started here too: its circuit closes, as there. */
  followed?: (name: string) => void;
}

/**
 * The backend list as it is now: the TOML file's backends plus what was
 * added or removed at runtime. Runtime changes are stored in data_dir (the
 * TOML file is never rewritten) and replayed at start; every change of one
 * name is serialized through the supervisor.
 */
export class Roster {
  readonly #options: RosterOptions;
  /** The stored entry (JSON) each runtime backend here was built from, to tell another gateway's change from one already applied. */
  readonly #applied = new Map<string, string>();
  /** `enabled` as the last POST /server/stop, /start or /restart of each name left it (stored, so it outlives a restart). */
  readonly #enabled = new Map<string, boolean>();

  constructor(options: RosterOptions) {
    this.#options = options;
  }

  /** Applies the stored runtime changes to the file's backends (before they start). */
  async load(): Promise<void> {
    const { supervisor, store, config, logger } = this.#options;
    for (const name of await store.removed()) {
      if (supervisor.has(name)) await supervisor.remove(name);
    }
    for (const stored of await store.list()) {
      try {
        const backend = parseBackendEntry(stored.entry, config.raw, config.baseDir);
        // [security] may have been tightened since the add: the stored entry obeys it too.
        checkRuntimeBackend(backend, config.security);
        // A runtime entry takes the place of a file entry of the same name.
        if (supervisor.has(backend.name)) await supervisor.remove(backend.name);
        supervisor.add(backend);
        this.#applied.set(backend.name, JSON.stringify(stored.entry));
      } catch (err) {
        logger.error(
          { backend: stored.name, error: (err as Error).message },
          'stored runtime backend is no longer valid; skipped (remove it with POST /server/remove)',
        );
      }
    }
    // A backend stopped through the API stays stopped after a restart of
    // the gateway (and one started stays started), whatever its entry says.
    for (const [name, enabled] of await store.enabledOverrides()) {
      this.#enabled.set(name, enabled);
      if (!supervisor.has(name)) continue;
      const config = supervisor.get(name).config;
      if (config.enabled === enabled) continue;
      await supervisor.remove(name);
      supervisor.add({ ...config, enabled });
      logger.info(
        { backend: name, enabled },
        enabled
          ? 'backend started through the API before: starts although its entry says enabled = false'
          : 'backend stopped through the API before: stays stopped (POST /server/start starts it)',
      );
    }
  }

  /** Whether the backend starts with the gateway: the entry's `enabled`, unless stop/start through the API changed it. */
  enabled(name: string): boolean {
    return this.#enabled.get(name) ?? this.#options.supervisor.get(name).config.enabled;
  }

  /** Remembers a stop (false) or start (true) through the API, across restarts of the gateway. */
  async setEnabled(name: string, enabled: boolean): Promise<void> {
    await this.#options.store.setEnabled(name, enabled);
    this.#enabled.set(name, enabled);
  }

  /**
   * Validates an entry with the TOML schema and the [security] policy for
   * runtime adds (allowed_commands, loader env keys), starts it, and stores it. A
   * backend that does not come up is not half-registered: the answer is the
   * start error (exit code, last stderr lines) and nothing remains.
   */
  async add(input: unknown): Promise<Backend> {
    const { supervisor, store, config } = this.#options;
    let entry: BackendConfig;
    try {
      entry = parseBackendEntry(input, config.raw, config.baseDir);
    } catch (err) {
      if (err instanceof ConfigError) throw new GatewayError('BAD_REQUEST', `Invalid backend: ${err.message}`);
      throw err;
    }
    checkRuntimeBackend(entry, config.security);
    return supervisor.serialize(entry.name, async () => {
      if (supervisor.has(entry.name)) {
        throw new GatewayError('CONFLICT', `A backend named '${entry.name}' exists already; remove it first or pick another name`);
      }
      const backend = supervisor.add(entry);
      if (entry.enabled) {
        try {
          await firstStart(backend);
        } catch (err) {
          await supervisor.remove(entry.name);
          throw err;
        }
      }
      await store.add(entry.name, input as Record<string, unknown>);
      this.#applied.set(entry.name, JSON.stringify(input));
      return backend;
    });
  }

  /** Stops and removes a backend; it stays removed after a restart of the gateway. */
  async remove(name: string): Promise<void> {
    const { supervisor, store } = this.#options;
    await supervisor.serialize(name, async () => {
      const origin = supervisor.get(name).config.origin;
      await supervisor.remove(name);
      await store.remove(name, origin === 'runtime' ? 'runtime' : 'file');
      this.#applied.delete(name);
      this.#enabled.delete(name);
    });
  }

  /**
   * A shared store: backends another gateway adds, removes, stops or starts
   * are applied here too (reconcile), and after a lost listening connection
   * every name is (catchUp). Resolves with how to stop; undefined for a store
   * of this gateway alone.
   */
  async follow(): Promise<(() => Promise<void>) | undefined> {
    const { store, logger } = this.#options;
    const failed = (name: string | undefined) => (err: unknown) =>
      logger.error({ ...(name === undefined ? {} : { backend: name }), error: (err as Error).message }, "could not apply another gateway's backend change");
    return await store.subscribe?.(
      (name) => void this.reconcile(name).catch(failed(name)),
      () => void this.catchUp().catch(failed(undefined)),
    );
  }

  /**
   * [pg-speed] After the listening connection was lost: every name the store
   * or this gateway knows of is reconciled, since a change NOTIFYed while the
   * connection was down was never heard (an add, a removal, a stop or start).
   */
  async catchUp(): Promise<void> {
    const { supervisor, store } = this.#options;
    const [stored, enabled, removed] = await Promise.all([store.list(), store.enabledOverrides(), store.removed()]);
    const names = new Set([...stored.map((b) => b.name), ...enabled.keys(), ...this.#applied.keys()]);
    for (const name of removed) if (supervisor.has(name)) names.add(name);
    for (const name of names) await this.reconcile(name);
  }

  /**
   * Applies what the shared store now says about `name` (another gateway
   * added, replaced, removed, stopped or started it): the backend is added
   * and started, replaced, stopped and removed, stopped or started here too.
   * A change this gateway made itself is found already applied and left alone.
   */
  async reconcile(name: string): Promise<void> {
    await this.#options.supervisor.serialize(name, async () => {
      await this.#reconcileEntry(name);
      await this.#followEnabled(name);
    });
  }

  /**
   * [pg-speed] A stop or start through another gateway's API: its stored `enabled` applies here at once, not only at
   * this gateway's next start, so a stop sent through a load balancer stops the backend on every gateway behind it.
   */
  async #followEnabled(name: string): Promise<void> {
    const { supervisor, store, logger } = this.#options;
    const enabled = (await store.enabledOverrides()).get(name);
    if (enabled === undefined || !supervisor.has(name) || enabled === this.enabled(name)) return;
    this.#enabled.set(name, enabled);
    const backend = supervisor.get(name);
    logger.info({ backend: name, enabled }, enabled ? 'backend started by another gateway' : 'backend stopped by another gateway');
    // Its failures show in its state, as for a backend of the file; a stop drains as POST /server/stop does.
    if (enabled)
      void backend.start().then(
        () => this.#options.followed?.(name),
        () => undefined,
      );
    else await backend.stop();
  }

  /** The stored entry of `name`: added, replaced or removed here as the store says (reconcile). */
  async #reconcileEntry(name: string): Promise<void> {
    const { supervisor, store, config, logger } = this.#options;
    const stored = (await store.list()).find((b) => b.name === name);
    if (stored === undefined) {
      const origin = supervisor.has(name) ? supervisor.get(name).config.origin : undefined;
      if (origin === 'runtime' || (origin === 'file' && (await store.removed()).has(name))) {
        await supervisor.remove(name);
        logger.info({ backend: name }, 'backend removed by another gateway');
      }
      this.#applied.delete(name);
      return;
    }
    const entry = JSON.stringify(stored.entry);
    if (this.#applied.get(name) === entry && supervisor.has(name)) return;
    const backend = parseBackendEntry(stored.entry, config.raw, config.baseDir);
    checkRuntimeBackend(backend, config.security);
    if (supervisor.has(name)) await supervisor.remove(name);
    const added = supervisor.add(backend);
    this.#applied.set(name, entry);
    logger.info({ backend: name }, 'backend added by another gateway');
    // Its failures show in its state, as for a backend of the file.
    if (this.enabled(name)) void added.start().catch(() => undefined);
  }
}

/** Starts a new backend and settles at its first outcome: running, or the first failure (no retries). */
function firstStart(backend: Backend): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onState = (to: BackendState): void => {
      if (to !== 'restarting' && to !== 'failed' && to !== 'needs_auth') return;
      backend.off('state', onState);
      const info = backend.info();
      reject(new GatewayError('BACKEND_UNAVAILABLE', info.last_error ?? `Backend '${backend.name}' did not start`));
    };
    backend.on('state', onState);
    backend.start().then(
      () => {
        backend.off('state', onState);
        resolve();
      },
      (err: unknown) => {
        backend.off('state', onState);
        reject(err);
      },
    );
  });
}
