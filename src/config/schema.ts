import { z } from 'zod';

/*
 * The one schema of stonegate.toml. Defaults live here and nowhere else;
 * `stonegate.toml` at the repository root mirrors it key for key.
 * Durations: `*_timeout` in the [gateway] and [pool] acquire paths are
 * milliseconds (as in the reference docs); cache and idle ages are seconds.
 */

const port = z.number().int().min(0).max(65535);
const ms = z.number().int().min(1);
const seconds = z.number().min(0);

export const BACKEND_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;

export const ServerSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(3393),
    data_dir: z.string().min(1).default('~/.stonegate'),
  })
  .prefault({});

export const GatewaySchema = z
  .strictObject({
    max_connections: z.number().int().min(1).default(100),
    request_timeout: ms.default(30_000),
    max_request_timeout: ms.default(600_000),
    schema_cache_ttl: seconds.default(300),
    tool_separator: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,4}$/, 'a separator of 1 to 4 characters from [A-Za-z0-9_-]')
      .default('__'),
    expose: z.enum(['all', 'meta']).default('all'),
    max_body_bytes: z.number().int().min(1024).default(4 * 1024 * 1024),
    call_log_size: z.number().int().min(1).default(1000),
    session_idle_timeout: seconds.default(1800),
    allowed_hosts: z.array(z.string().min(1)).default([]),
    allowed_origins: z.array(z.string().min(1)).default([]),
  })
  .prefault({});

const breakerFields = {
  failure_threshold: z.number().int().min(1),
  reset_timeout: seconds,
  success_threshold: z.number().int().min(1),
  error_threshold_percentage: z.number().min(0).max(100),
  volume_threshold: z.number().int().min(1),
  rolling_window: z.number().min(1),
};

export const CircuitBreakerSchema = z
  .strictObject({
    failure_threshold: breakerFields.failure_threshold.default(5),
    reset_timeout: breakerFields.reset_timeout.default(30),
    success_threshold: breakerFields.success_threshold.default(2),
    error_threshold_percentage: breakerFields.error_threshold_percentage.default(0),
    volume_threshold: breakerFields.volume_threshold.default(20),
    rolling_window: breakerFields.rolling_window.default(60),
  })
  .prefault({});

const poolFields = {
  min: z.number().int().min(0),
  max: z.number().int().min(1),
  max_idle: z.number().int().min(0),
  idle_timeout: seconds,
  acquire_timeout: ms,
  max_waiting: z.number().int().min(0),
  max_concurrency: z.number().int().min(1),
};

export const PoolSchema = z
  .strictObject({
    min: poolFields.min.default(1),
    max: poolFields.max.default(1),
    max_idle: poolFields.max_idle.default(10),
    idle_timeout: poolFields.idle_timeout.default(300),
    acquire_timeout: poolFields.acquire_timeout.default(5_000),
    max_waiting: poolFields.max_waiting.default(1_000),
    max_concurrency: poolFields.max_concurrency.default(64),
  })
  .prefault({});

export const SupervisorSchema = z
  .strictObject({
    start_timeout: ms.default(60_000),
    stop_timeout: ms.default(5_000),
    restart_backoff_min: ms.default(250),
    restart_backoff_max: ms.default(30_000),
    crash_loop_restarts: z.number().int().min(1).default(5),
    crash_loop_window: seconds.default(60),
    stderr_lines: z.number().int().min(0).default(20),
    health_interval: seconds.default(30),
    health_timeout: ms.default(5_000),
    health_failures: z.number().int().min(1).default(3),
    max_line_bytes: z.number().int().min(1024).default(64 * 1024 * 1024),
    retry_on_crash: z.boolean().default(true),
  })
  .prefault({});

export const LoggingSchema = z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    format: z.enum(['json', 'pretty']).default('json'),
  })
  .prefault({});

const stringMap = z.record(z.string(), z.string());

export const BackendSchema = z
  .strictObject({
    name: z.string().regex(BACKEND_NAME, 'a name of 1 to 48 characters from [A-Za-z0-9_-], starting with a letter or digit'),
    transport: z.enum(['stdio', 'http', 'builtin']).default('stdio'),
    command: z.string().min(1).optional(),
    args: z.array(z.string()).default([]),
    cwd: z.string().min(1).optional(),
    env: stringMap.default({}),
    inherit_env: z.boolean().default(false),
    url: z.url({ protocol: /^https?$/ }).optional(),
    headers: stringMap.default({}),
    affinity: z.enum(['shared', 'session']).default('shared'),
    roots: z.array(z.string().min(1)).default([]),
    auto_restart: z.boolean().default(true),
    health_check: z.boolean().default(true),
    enabled: z.boolean().default(true),
    timeout: ms.optional(),
    start_timeout: ms.optional(),
    pool: z.strictObject(poolFields).partial().optional(),
    circuit_breaker: z.strictObject(breakerFields).partial().optional(),
  })
  .superRefine((b, ctx) => {
    if (b.transport === 'stdio' && b.command === undefined) {
      ctx.addIssue({ code: 'custom', path: ['command'], message: "a stdio backend needs 'command'" });
    }
    if (b.transport === 'http' && b.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: "an http backend needs 'url'" });
    }
  });

export const ConfigSchema = z
  .strictObject({
    server: ServerSchema,
    gateway: GatewaySchema,
    circuit_breaker: CircuitBreakerSchema,
    pool: PoolSchema,
    supervisor: SupervisorSchema,
    logging: LoggingSchema,
    backends: z.array(BackendSchema).default([]),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.backends.forEach((b, i) => {
      if (seen.has(b.name)) {
        ctx.addIssue({ code: 'custom', path: ['backends', i, 'name'], message: `duplicate backend name '${b.name}'` });
      }
      seen.add(b.name);
    });
  });

export type RawConfig = z.infer<typeof ConfigSchema>;
export type BackendEntry = z.input<typeof BackendSchema>;
export type PoolSettings = z.infer<typeof PoolSchema>;
export type BreakerSettings = z.infer<typeof CircuitBreakerSchema>;
export type SupervisorSettings = z.infer<typeof SupervisorSchema>;
export type GatewaySettings = z.infer<typeof GatewaySchema>;
export type LoggingSettings = z.infer<typeof LoggingSchema>;

/** One backend with every default and override resolved. */
export interface BackendConfig {
  readonly name: string;
  readonly transport: 'stdio' | 'http' | 'builtin';
  readonly command: string | undefined;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly inheritEnv: boolean;
  readonly url: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly affinity: 'shared' | 'session';
  /** Roots the gateway answers the backend's roots/list with: absolute file:// URIs. */
  readonly roots: readonly string[];
  readonly autoRestart: boolean;
  readonly healthCheck: boolean;
  readonly enabled: boolean;
  readonly timeout: number;
  readonly maxTimeout: number;
  readonly startTimeout: number;
  readonly pool: Readonly<PoolSettings>;
  readonly breaker: Readonly<BreakerSettings>;
  readonly supervisor: Readonly<SupervisorSettings>;
  /** Where the entry came from: the TOML file or a runtime add. */
  readonly origin: 'file' | 'runtime';
}

/** The whole config, normalized and frozen. */
export interface Config {
  readonly file: string | undefined;
  readonly server: Readonly<{ host: string; port: number; dataDir: string }>;
  readonly gateway: Readonly<GatewaySettings>;
  readonly breaker: Readonly<BreakerSettings>;
  readonly pool: Readonly<PoolSettings>;
  readonly supervisor: Readonly<SupervisorSettings>;
  readonly logging: Readonly<LoggingSettings>;
  readonly backends: readonly BackendConfig[];
  /** The validated sections as written, for resolving runtime-added backends. */
  readonly raw: RawConfig;
  /** Folder that relative paths resolve against (the config file's). */
  readonly baseDir: string;
}
