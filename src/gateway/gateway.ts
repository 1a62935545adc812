import { mkdirSync } from 'node:fs';
import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import { SqliteFileWatch } from '../../kit/sqlite-file-watch.js';
import { callGuard } from '../auth/call-guard.js';
import { Security } from '../auth/security.js';
import { tokenExchangeGuard } from '../auth/token-exchange-guard.js';
import type { ActingAsDeclaration, BuiltinBackend, BuiltinMount } from '../builtins/builtin-backend.js';
import { BUILTINS } from '../builtins/registry.js';
import { type BackendListing, Catalog, describeBackend, listAllTools } from '../catalog/catalog.js';
import { toolRefresh } from '../catalog/tool-refresh.js';
import { ConfigError, normalizeBackend } from '../config/load.js';
import type { BackendConfig, Config } from '../config/schema.js';
import { DispatchTable } from '../dispatch/table.js';
import { GatewayError } from '../errors.js';
import { createApp } from '../http/app.js';
import { type Listener, listen } from '../http/server.js';
import type { Logger } from '../log.js';
import { backendHooks } from '../mcp/backend-hooks.js';
import { Sessions } from '../mcp/sessions.js';
import { CallLog } from '../router/call-log.js';
import { Router } from '../router/router.js';
import { databasePath, GATEWAY_DB, storeFailure } from '../store/database.js';
import type { DispatchStore } from '../store/dispatch-store.js';
import { type GatewayStores, openGatewayStores } from '../store/factory.js';
import type { RuntimeBackendStore } from '../store/runtime-backends.js';
import { StoreMonitor } from '../store/store-monitor.js';
import { ChildLedger } from '../supervisor/child-ledger.js';
import { Roster } from '../supervisor/roster.js';
import { Supervisor } from '../supervisor/supervisor.js';
import type { BuiltinFactory } from '../supervisor/transport.js';
import { type Connector, transportConnector } from '../supervisor/transport.js';
import { startTracing, stopTracing } from '../telemetry/telemetry.js';
import { VERSION } from '../version.js';
import { type HealthReport, healthReport } from '../views/health-report.js';
import { createMetrics } from '../views/metrics.js';
import { type Readiness, readiness } from '../views/readiness.js';
import { type ServerView, serverList } from '../views/server-list.js';
import { sectionOf, wanted } from './builtins-wanted.js';
import { ConfigReloader } from './reload.js';

export interface GatewayOptions {
  config: Config;
  logger: Logger;
  /** Replaces how backends are connected (tests, built-in backends). */
  connector?: Connector;
  /** Where runtime-added backends are kept; the data_dir SQLite database by default. */
  runtimeStore?: (dataDir: string) => RuntimeBackendStore;
  /** Reads the config file again for a reload (the CLI's passes its overrides); by default the file alone. */
  reload?: () => Config;
}

/** A built-in backend the gateway mounted. */
export interface MountedBuiltin {
  readonly name: string;
  readonly mount: BuiltinMount;
  /** Its [[backends]] entry, for a built-in with a [section]. */
  readonly entry: BackendConfig | undefined;
  readonly routes: Hono | undefined;
  readonly streams: readonly string[];
  /** Its health probes, as paths under /<name>: public (no token), Host/Origin checked. */
  readonly probes: readonly string[];
  readonly identity: ActingAsDeclaration | undefined;
  /** What counts an agent token's call as its agent's activity (BuiltinMount.activity). */
  readonly activity: ((agent: string) => Promise<void>) | undefined;
  /** Its tools check their own arguments (BuiltinBackend.checksArguments). */
  readonly checksArguments: boolean;
}

/**
 * The composition root. Builds the stages in data-path order — supervisor
 * (which owns the pools), catalog, router, front door — wires their events,
 * and stops them in reverse.
 */
export class Gateway {
  config: Config; // a reload swaps it whole (reload.ts)
  readonly logger: Logger;
  readonly supervisor: Supervisor;
  readonly catalog: Catalog;
  readonly callLog: CallLog;
  readonly router: Router;
  readonly sessions: Sessions;
  readonly metrics: Registry;
  /** Tokens, per-token limits, the call guard, the audit log and tool fingerprints. */
  readonly security: Security;
  /** The built-in backends mounted (coord when [coordination] enabled): their REST routes and identity declarations. */
  readonly builtins: readonly MountedBuiltin[];
  readonly app: Hono;
  /** Live reloads of the config file (reload.ts). */
  readonly reloader: ConfigReloader;
  readonly startedAt = Date.now();
  #listener: Listener | undefined;
  #stopping: Promise<void> | undefined;
  readonly #onStop: (() => Promise<void>)[] = [];
  #initialStart: Promise<void> | undefined;
  #stores: GatewayStores | undefined;
  #roster: Roster | undefined;
  #dispatch: DispatchTable | undefined;
  #storeMonitor: StoreMonitor | undefined;
  #children: ChildLedger | undefined;
  readonly #storeFactory: ((dataDir: string) => RuntimeBackendStore) | undefined;

  constructor(options: GatewayOptions) {
    const { config, logger } = options;
    this.config = config;
    this.logger = logger;
    this.sessions = new Sessions(logger);
    const builtins = new Map<string, BuiltinFactory>();
    this.builtins = BUILTINS.filter((b) => wanted(config, b)).map((b) => this.#mountBuiltin(b, builtins));
    this.supervisor = new Supervisor({
      logger,
      connector: options.connector ?? transportConnector(builtins, this.config.server.dataDir), // [oauth-out] dataDir: backend tokens
      hooks: backendHooks(this.sessions, logger, (name) => void this.refreshTools(name)),
      prepare: (connection, backend) => describeBackend(connection.client, backend.startTimeout),
    });
    this.catalog = new Catalog({
      separator: config.gateway.tool_separator,
      ttlSeconds: config.gateway.schema_cache_ttl,
      logger,
      pin: config.gateway.pin_tools,
    });
    this.callLog = new CallLog(config.gateway.call_log_size);
    this.refreshTools = toolRefresh({
      catalog: this.catalog,
      list: (server) => this.supervisor.get(server).use((connection) => listAllTools(connection.client, this.config.gateway.request_timeout)),
      logger,
    });
    this.router = new Router({
      supervisor: this.supervisor,
      catalog: this.catalog,
      callLog: this.callLog,
      logger,
      onStale: (server) => this.refreshTools(server),
      checkedByBackend: new Set(this.builtins.filter((b) => b.checksArguments).map((b) => b.name)),
    });
    const backends = (): BackendConfig[] => this.supervisor.list().map((b) => b.config);
    const identities = new Map(this.builtins.flatMap((b) => (b.identity === undefined ? [] : [[b.name, b.identity] as const])));
    const activities = new Map(this.builtins.flatMap((b) => (b.activity === undefined ? [] : [[b.name, b.activity] as const])));
    this.security = new Security({ config, logger, catalog: this.catalog, backends });
    // The call guard runs before the router's own steps and audits what the call log records.
    const guard = callGuard({
      tokens: this.security.tokens,
      limiter: this.security.limiter,
      catalog: this.catalog,
      audit: () => this.security.audit,
      keepArguments: config.audit.arguments,
      identities,
      activities,
    });
    this.router.use(guard.middleware);
    // [oauth-out] token_exchange backends: each OAuth caller's call with its own exchanged token (auth/token-exchange-guard.ts).
    this.router.use(tokenExchangeGuard((s) => (this.supervisor.has(s) ? this.supervisor.get(s).config : undefined), this.security.subjects));
    this.callLog.onRecord(guard.onRecord);
    this.metrics = createMetrics(this);
    this.#storeFactory = options.runtimeStore;
    this.#wire();
    for (const backend of config.backends) this.supervisor.add(backend);
    for (const builtin of this.builtins) if (builtin.entry !== undefined) this.supervisor.add(builtin.entry);
    this.reloader = new ConfigReloader(this, options.reload);
    this.app = createApp(this);
  }

  #wire(): void {
    const { supervisor, catalog, router } = this;
    supervisor.on('ready', (name: string, info: { restarted: boolean; prepared: unknown }) => {
      const listing = info.prepared as BackendListing;
      catalog.setMeta(name, listing.meta);
      catalog.set(name, listing.tools, { changed: info.restarted });
      this.logger.info({ backend: name, tools: catalog.toolCount(name), restarted: info.restarted }, 'backend ready');
    });
    supervisor.on('tools_changed', (name: string) => void this.refreshTools(name));
    catalog.on('changed', (name: string) => this.sessions.listChanged(name, 'tools'));
    this.sessions.onListChanged((name, what) => {
      if (what !== 'tools') catalog.relisted(name, what);
    });
    // A session's own connections (affinity = "session") end with it.
    this.sessions.onEnded((id) => {
      for (const backend of supervisor.list()) void backend.endSession(id);
    });
    supervisor.on('state', (name: string, to: string) => {
      if (to === 'stopped' || to === 'failed') catalog.drop(name);
    });
    supervisor.on('removed', (name: string) => {
      catalog.drop(name);
      router.drop(name);
    });
  }

  /** Re-lists a backend's tools (list_changed, or the cache TTL ran out); one refresh per backend at a time. */
  readonly refreshTools: (server: string) => Promise<void>;

  /**
   * Listens (unless `listen` is false, as for `serve --stdio`), then starts
   * the backends in the background: the gateway serves while they come up.
   */
  async start(options: { listen?: boolean } = {}): Promise<{ url: string | undefined; ready: Promise<void> }> {
    if (options.listen !== false) this.security.assertBindable();
    await startTracing(this.config.raw.telemetry, this.logger); // [otel] loads the SDK only when [telemetry] enabled
    mkdirSync(this.config.server.dataDir, { recursive: true });
    // Kills what a gateway killed on this data_dir left running, before any child of ours starts.
    this.#children = ChildLedger.open(this.config.server.dataDir, this.logger);
    try {
      await this.#startStores();
    } catch (error) {
      // A corrupt page met by the first reads (pins, runtime backends, async calls): name the file and the fix.
      throw storeFailure(databasePath(this.config.server.dataDir), error);
    }
    if (options.listen !== false) {
      this.#listener = await listen(this.app, this.config.server);
      this.security.oauth?.listening(this.#listener.url);
      this.logger.info({ url: this.#listener.url, port: this.#listener.port, backends: this.config.backends.length }, 'stonegate listening');
    }
    this.reloader.watch();
    const ready = this.supervisor.startAll();
    this.#initialStart = ready;
    return { url: this.#listener?.url, ready };
  }

  async #startStores(): Promise<void> {
    const stores = await this.#openStores();
    const { local, fingerprints, audit } = this.#stores as GatewayStores; // fingerprints: data_dir or shared (#31)
    const coord = this.builtins.find((b) => b.mount.health !== undefined)?.mount;
    this.#storeMonitor = new StoreMonitor({
      gateway: new SqliteFileWatch(databasePath(this.config.server.dataDir), local, GATEWAY_DB),
      coord: coord?.health === undefined ? undefined : () => (coord.health as () => Promise<{ store: string; problem?: string }>)(),
      dataDir: this.config.server.dataDir,
      logger: this.logger.child({ stage: 'store' }),
      shared: this.#stores, // [pg-speed] the `fingerprints` check, and whether [store] url answers
    });
    this.#storeMonitor.start();
    this.security.open(fingerprints, audit);
    const followed = (name: string): void => this.router.breaker(name).reset('POST /server/start on another gateway'); // as that start's
    this.#roster = new Roster({ supervisor: this.supervisor, store: stores.runtime, config: this.config, logger: this.logger, followed });
    await this.#roster.load();
    const unfollow = await this.#roster.follow(); // a shared store: other gateways' backend changes apply here too
    if (unfollow !== undefined) this.onStop(unfollow);
    this.#dispatch = new DispatchTable({
      router: this.router,
      supervisor: this.supervisor,
      catalog: this.catalog,
      store: stores.dispatch,
      settings: this.config.dispatch,
      logger: this.logger.child({ stage: 'dispatch' }),
    });
    await this.#dispatch.start();
  }

  /**
   * Mounts a built-in backend (coord: its store in data_dir/coord.db or the
   * PostgreSQL of [store]) and registers it: each pooled connection gets its
   * own MCP server over the one store.
   */
  #mountBuiltin(builtin: BuiltinBackend, factories: Map<string, BuiltinFactory>): MountedBuiltin {
    const { config } = this;
    if (builtin.section !== undefined && config.backends.some((b) => b.name === builtin.name)) {
      throw new ConfigError(
        `${config.file ?? 'config'}: backends: the name '${builtin.name}' belongs to ${builtin.title}; rename yours, or set [${builtin.section}] enabled = false`,
      );
    }
    const { enabled: _enabled, ...options } = sectionOf(config, builtin);
    mkdirSync(config.server.dataDir, { recursive: true });
    const mount = builtin.mount({ dataDir: config.server.dataDir, store: config.store, options, logger: this.logger });
    factories.set(builtin.name, () => mount.server());
    // Closing the store answers pending long polls and ends /coord/events
    // streams; it must happen before the listener waits for its requests.
    this.onStop(() => mount.close());
    // A built-in with a [section] brings its own [[backends]] entry; one without is the user's entry.
    const fields = builtin.section === undefined ? undefined : builtin.entry?.(options);
    const entry =
      fields === undefined
        ? undefined
        : normalizeBackend(
            { name: builtin.name, transport: 'builtin', ...fields } as Parameters<typeof normalizeBackend>[0],
            config.raw,
            config.baseDir,
            'builtin',
          );
    return {
      name: builtin.name,
      mount,
      entry,
      routes: mount.routes,
      streams: mount.streams ?? [],
      probes: mount.probes ?? [],
      identity: builtin.identity,
      activity: mount.activity?.bind(mount),
      checksArguments: builtin.checksArguments === true,
    };
  }

  async #openStores(): Promise<{ runtime: RuntimeBackendStore; dispatch: DispatchStore }> {
    for (const builtin of this.builtins) await builtin.mount.ready();
    const stores = await openGatewayStores(this.config, undefined, this.logger.child({ stage: 'store' }));
    this.#stores = stores;
    return { runtime: this.#storeFactory?.(this.config.server.dataDir) ?? stores.runtime, dispatch: stores.dispatch };
  }

  /** Async calls (gate_call_async, POST /call/async, MCP tasks). */
  get dispatch(): DispatchTable {
    if (this.#dispatch === undefined) throw new GatewayError('INTERNAL', 'The gateway has not started');
    return this.#dispatch;
  }

  /** Runtime changes to the backend list (POST /server/add, /server/remove). */
  get roster(): Roster {
    if (this.#roster === undefined) throw new GatewayError('INTERNAL', 'The gateway has not started');
    return this.#roster;
  }

  /**
   * Waits (at most `capMs`) for the first start of the configured backends,
   * so that an agent that lists tools right after connecting sees them
   * instead of an empty catalog followed by list_changed.
   */
  async settled(capMs = 10_000): Promise<void> {
    if (this.#initialStart === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#initialStart, new Promise<void>((resolve) => (timer = setTimeout(resolve, capMs)))]);
    clearTimeout(timer);
  }

  get url(): string | undefined {
    return this.#listener?.url;
  }

  /** Registers cleanup for a front door (its sessions) to run when the gateway stops. */
  onStop(fn: () => Promise<void>): void {
    this.#onStop.push(fn);
  }

  /** Stops accepting requests, then stops every backend. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#storeMonitor?.close();
      this.reloader.close();
      await Promise.all(this.#onStop.map((fn) => fn().catch(() => undefined)));
      await this.#dispatch?.close();
      await this.sessions.closeAll();
      await this.#listener?.close();
      await this.supervisor.stopAll();
      this.#children?.close();
      for (const backend of this.supervisor.list()) this.router.drop(backend.name);
      await this.security.close();
      await this.#stores?.close();
      await stopTracing(); // [otel] exports what is queued (bounded)
      this.logger.info('stonegate stopped');
    })();
    return this.#stopping;
  }

  /** Rows of GET /server/list (and gate_status); secrets in errors and stderr lines are scrubbed. */
  serverList(servers?: ReadonlySet<string>): ServerView[] {
    return serverList(
      {
        backends: () => this.supervisor.list(),
        enabled: (name) => this.#enabled(name),
        toolCount: (name) => this.catalog.toolCount(name),
        toolChanges: (name) => this.catalog.changes(name),
        circuitState: (name) => this.router.breaker(name).state,
        callLog: this.callLog,
        secrets: () => this.security.secrets(),
      },
      servers,
    );
  }

  #enabled(name: string): boolean {
    return this.#roster?.enabled(name) ?? this.supervisor.get(name).config.enabled;
  }

  /** A storage error a route met on the gateway database, as STORE_UNAVAILABLE (and /health reports it); undefined for other errors. */
  storeError(error: unknown): GatewayError | undefined {
    if (this.#storeMonitor?.note(error) !== true) return undefined;
    return storeFailure(databasePath(this.config.server.dataDir), error) as GatewayError;
  }

  /** GET /health (views/health-report.ts). */
  health(): Promise<HealthReport> {
    return healthReport({
      enabledBackends: () => this.supervisor.list().filter((b) => this.#enabled(b.name)),
      circuitState: (name) => this.router.breaker(name).state,
      storeCheck: async () => this.#storeMonitor?.check(),
      version: VERSION,
      startedAt: this.startedAt,
    }).then((report) => this.reloader.decorate(report));
  }

  /** GET /readyz (views/readiness.ts). */
  readiness(): Promise<Readiness> {
    return readiness({
      storeCheck: async () => this.#storeMonitor?.check(),
      enabledBackends: () => this.supervisor.list().filter((b) => this.#enabled(b.name)),
    });
  }
}
