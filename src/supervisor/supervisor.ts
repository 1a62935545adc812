import { EventEmitter } from 'node:events';
import type { BackendConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { Backend, type BackendOptions, type BackendState } from './backend.js';
import type { ConnectHooks } from './connect.js';
import type { Connector } from './transport.js';

export interface SupervisorOptions {
  logger: Logger;
  connector?: Connector;
  /** Builds the client hooks of each backend's connections (the MCP front door installs forwarding here). */
  hooks?: (config: BackendConfig) => ConnectHooks;
  /** See BackendOptions.prepare. */
  prepare?: BackendOptions['prepare'];
}

/**
 * All backends by name. Starts them in parallel (one that fails never holds
 * up the rest), relays their events with the backend's name, stops them all.
 * Emits `state` (name, to, from), `ready` (name, {restarted}),
 * `tools_changed` (name), `added` (name) and `removed` (name).
 */
export class Supervisor extends EventEmitter {
  readonly #backends = new Map<string, Backend>();
  readonly #options: SupervisorOptions;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: SupervisorOptions) {
    super();
    this.#options = options;
  }

  /**
   * Runs `fn` after every earlier operation on the same backend name has
   * finished: concurrent add/remove/restart of one name never interleave
   * (never two processes for one name, never a lost update).
   */
  serialize<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(name) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(name, tail);
    void tail.then(() => {
      if (this.#locks.get(name) === tail) this.#locks.delete(name);
    });
    return run;
  }

  /** Registers a backend (not started). CONFLICT when the name is taken. */
  add(config: BackendConfig): Backend {
    if (this.#backends.has(config.name)) {
      throw new GatewayError('CONFLICT', `A backend named '${config.name}' exists already; remove it first or pick another name`);
    }
    const backend = new Backend({
      config,
      logger: this.#options.logger.child({ backend: config.name }),
      connector: this.#options.connector,
      hooks: this.#options.hooks?.(config),
      prepare: this.#options.prepare,
    });
    backend.on('state', (to: BackendState, from: BackendState) => this.emit('state', config.name, to, from));
    backend.on('ready', (info: { restarted: boolean; prepared: unknown }) => this.emit('ready', config.name, info));
    backend.on('tools_changed', () => this.emit('tools_changed', config.name));
    this.#backends.set(config.name, backend);
    this.emit('added', config.name);
    return backend;
  }

  /** Stops and forgets a backend. */
  async remove(name: string): Promise<void> {
    const backend = this.get(name);
    this.#backends.delete(name);
    await backend.stop('remove');
    backend.removeAllListeners();
    this.emit('removed', name);
  }

  /** The backend of that name, or UNKNOWN_SERVER. */
  get(name: string): Backend {
    const backend = this.#backends.get(name);
    if (backend === undefined) {
      throw new GatewayError('UNKNOWN_SERVER', `No backend named '${name}'; GET /server/list shows the backends`);
    }
    return backend;
  }

  has(name: string): boolean {
    return this.#backends.has(name);
  }

  list(): Backend[] {
    return [...this.#backends.values()];
  }

  /** Starts every enabled backend; resolves when each is running or has failed. */
  async startAll(): Promise<void> {
    const starts: Promise<void>[] = [];
    for (const backend of this.list()) {
      if (!backend.config.enabled) continue;
      // A turn of the event loop between starts: each start does synchronous
      // work (spawning, building a built-in server), and the listener should
      // answer /health meanwhile.
      await new Promise<void>((resolve) => setImmediate(resolve));
      starts.push(backend.start().catch(() => undefined));
    }
    await Promise.all(starts);
  }

  /** Stops every backend in parallel (the gateway is shutting down). Idempotent. */
  async stopAll(): Promise<void> {
    await Promise.all(this.list().map((b) => b.stop('shutdown')));
  }
}
