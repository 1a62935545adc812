import type { CoordOptions } from '../builtins/coord.js';
import type { BackendOAuth } from './backend-oauth-schema.js';
import type {
  AuditSettings,
  AuthSettings,
  BackendProtocol,
  BreakerSettings,
  DispatchConfig,
  GatewaySettings,
  LoggingSettings,
  PoolSettings,
  RawConfig,
  SecuritySettings,
  StoreSettings,
  SupervisorSettings,
} from './schema.js';
import type { Transport } from './transports.js';
import type { ViewConfig } from './views-schema.js';

/*
 * The config as the gateway reads it: every default and override resolved,
 * frozen (load.ts builds it from the file that schema.ts validates).
 */

/** One backend with every default and override resolved. */
export interface BackendConfig {
  readonly name: string;
  readonly transport: Transport;
  readonly command: string | undefined;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly inheritEnv: boolean;
  readonly url: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly affinity: 'shared' | 'session';
  /**
   * The era the gateway speaks to the backend in. `auto` probes with
   * server/discover and falls back to initialize. Unset in the file: `auto`
   * for http backends (the probe is one request), `2025-11-25` for stdio and
   * builtin ones (some stdio servers exit on any request before initialize,
   * so a stdio probe needs a throwaway process: only with an explicit `auto`).
   */
  readonly protocol: BackendProtocol;
  /** Roots the gateway answers the backend's roots/list with: absolute file:// URIs. */
  readonly roots: readonly string[];
  /** [mcp-ext] Tools (own names; "*": all) answered as Tasks-extension tasks to 2026-07-28 clients that declare it. */
  readonly taskTools?: readonly string[];
  /** [mcp-ext] Task tools served only as tasks: a 2026-07-28 call that does not declare the extension is refused -32021. */
  readonly taskRequired?: readonly string[];
  /** [oauth-out] The gateway's OAuth client toward this backend (http only). */
  readonly oauth?: Readonly<BackendOAuth>;
  readonly autoRestart: boolean;
  readonly healthCheck: boolean;
  readonly enabled: boolean;
  readonly timeout: number;
  readonly maxTimeout: number;
  readonly startTimeout: number;
  readonly pool: Readonly<PoolSettings>;
  readonly breaker: Readonly<BreakerSettings>;
  readonly supervisor: Readonly<SupervisorSettings>;
  /** Where the entry came from: the TOML file, a runtime add, or the gateway itself (coord). */
  readonly origin: 'file' | 'runtime' | 'builtin';
}

/** The whole config, normalized and frozen. */
export interface Config {
  readonly file: string | undefined;
  readonly server: Readonly<{
    host: string;
    port: number;
    dataDir: string;
    headersTimeout: number;
    bodyTimeout: number;
    keepAliveTimeout: number;
    heap: 'compact' | 'balanced' | 'fast';
  }>;
  readonly gateway: Readonly<GatewaySettings>;
  readonly breaker: Readonly<BreakerSettings>;
  readonly pool: Readonly<PoolSettings>;
  readonly supervisor: Readonly<SupervisorSettings>;
  readonly dispatch: Readonly<DispatchConfig>;
  readonly coordination: Readonly<CoordOptions & { enabled: boolean }>;
  readonly logging: Readonly<LoggingSettings>;
  /** [auth]: bearer tokens and [auth.oauth] (neither: auth off, loopback only) and per-token limits. */
  readonly auth: Readonly<AuthSettings>;
  /** [security]: what runtime adds (POST /server/add) may run. */
  readonly security: Readonly<SecuritySettings>;
  /** [audit]: the persistent call log in data_dir. */
  readonly audit: Readonly<AuditSettings>;
  /** [store]: SQLite in data_dir (url "") or a shared PostgreSQL. */
  readonly store: Readonly<StoreSettings>;
  readonly backends: readonly BackendConfig[];
  /** [[views]]: named views (virtual servers), read per request (docs/views.md). */
  readonly views: readonly ViewConfig[];
  /** The validated sections as written, for resolving runtime-added backends. */
  readonly raw: RawConfig;
  /** Folder that relative paths resolve against (the config file's). */
  readonly baseDir: string;
}
