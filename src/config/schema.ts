import { z } from 'zod';
import { isLoopbackHost } from '../../kit/loopback.js';
import { CoordOptionsSchema } from '../builtins/coord.js';
import { BackendOAuthSchema } from './backend-oauth-schema.js';
import { OAuthSchema } from './oauth-schema.js';
import { TelemetrySchema } from './telemetry-schema.js';
import { TRANSPORT_NAMES, TRANSPORT_NEEDS, type Transport } from './transports.js';
import { checkViews, ViewsSchema } from './views-schema.js';

export type { Transport };

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
    // Slow-client limits of the Node server. They bound how long a client may
    // take to *send* a request; responses (SSE streams, long polls) are not cut.
    headers_timeout: ms.default(10_000),
    request_body_timeout: ms.default(30_000),
    keep_alive_timeout: ms.default(5_000),
    heap: z.enum(['compact', 'balanced', 'fast']).default('balanced'), // [speed] V8 heap sizing of `serve`: src/cli/heap.ts
  })
  .prefault({});

export const GatewaySchema = z
  .strictObject({
    max_connections: z.number().int().min(1).default(100),
    // Per client: a token, or with auth off a client address (issue #19 item 4).
    max_sessions_per_client: z.number().int().min(1).default(32),
    max_streams_per_client: z.number().int().min(1).default(16),
    max_streams: z.number().int().min(0).default(0), // 0: derived from the open-file limit
    admin_reserve: z.number().int().min(0).default(4),
    request_timeout: ms.default(30_000),
    max_request_timeout: ms.default(600_000),
    schema_cache_ttl: seconds.default(300),
    tool_separator: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,4}$/, 'a separator of 1 to 4 characters from [A-Za-z0-9_-]')
      .default('__'),
    expose: z.enum(['all', 'meta']).default('all'),
    max_body_bytes: z
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 * 1024),
    call_log_size: z.number().int().min(1).default(1000),
    session_idle_timeout: seconds.default(1800),
    mcp_sessions: z.enum(['stateful', 'stateless']).default('stateful'),
    allowed_hosts: z.array(z.string().min(1)).default([]),
    allowed_origins: z.array(z.string().min(1)).default([]),
    max_json_depth: z.number().int().min(2).max(1_000).default(64),
    // The serialised params._meta of a 2026-07-28 request (protocol version, client info and capabilities ride in it).
    max_meta_bytes: z
      .number()
      .int()
      .min(1024)
      .default(16 * 1024),
    pin_tools: z.boolean().default(false),
    // How long a requestState the gateway mints for a 2026-07-28 caller stays valid (src/mcp/input-bridge.ts).
    input_request_ttl: z.number().min(1).max(86_400).default(300),
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
  max_session_connections: z.number().int().min(1),
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
    max_session_connections: poolFields.max_session_connections.default(16),
  })
  .prefault({});

export const SupervisorSchema = z
  .strictObject({
    start_timeout: ms.default(60_000),
    stop_timeout: ms.default(5_000),
    drain_timeout: z.number().int().min(0).default(10_000),
    restart_backoff_min: ms.default(250),
    restart_backoff_max: ms.default(30_000),
    crash_loop_restarts: z.number().int().min(1).default(5),
    crash_loop_window: seconds.default(60),
    stderr_lines: z.number().int().min(0).default(20),
    health_interval: seconds.default(30),
    health_timeout: ms.default(5_000),
    health_failures: z.number().int().min(1).default(3),
    max_line_bytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024),
    retry_on_crash: z.boolean().default(true),
  })
  .prefault({});

export const DispatchSchema = z
  .strictObject({
    max_entries: z.number().int().min(1).default(10_000),
    result_ttl: seconds.default(3_600),
    async_timeout: ms.default(3_600_000),
    max_await: ms.default(60_000),
  })
  .prefault({});

/** [coordination]: the coord backend's options (backends/coord/options.ts) plus whether it is mounted. */
export const CoordinationSchema = CoordOptionsSchema.unwrap()
  .extend({ enabled: z.boolean().default(true) })
  .prefault({});

export const LoggingSchema = z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    format: z.enum(['json', 'pretty']).default('json'),
  })
  .prefault({});

const stringMap = z.record(z.string(), z.string());

/** A token's name: the agent identity in logs, the call log and async-call ownership. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

const rateFields = {
  rate_limit: z.number().min(0),
  burst: z.number().int().min(0),
  max_concurrent: z.number().int().min(0),
};

export const AuthTokenSchema = z
  .strictObject({
    name: z.string().regex(TOKEN_NAME, 'a name of 1 to 64 characters from [A-Za-z0-9_.@-], starting with a letter or digit'),
    role: z.enum(['agent', 'admin']).default('agent'),
    hash: z
      .string()
      .regex(/^sha256:[0-9a-fA-F]{64}$/, 'sha256:<64 hex digits> (printf %s "$TOKEN" | sha256sum)')
      .optional(),
    token: z.string().min(16, 'a token of at least 16 characters').optional(),
    servers: z.array(z.string().regex(BACKEND_NAME, 'a backend name')).optional(),
    rate_limit: rateFields.rate_limit.optional(),
    burst: rateFields.burst.optional(),
    max_concurrent: rateFields.max_concurrent.optional(),
    // [[views]]: the token sees only this view (views-schema.ts).
    view: z.string().optional(),
  })
  .superRefine((t, ctx) => {
    if ((t.hash === undefined) === (t.token === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['hash'], message: "give exactly one of 'hash' (sha256:<hex>) or 'token' (${ENV_VAR})" });
    }
  });

export const AuthSchema = z
  .strictObject({
    tokens: z.array(AuthTokenSchema).default([]),
    rate_limit: rateFields.rate_limit.default(0),
    burst: rateFields.burst.default(0),
    max_concurrent: rateFields.max_concurrent.default(0),
    oauth: OAuthSchema,
  })
  .prefault({});

export const SecuritySchema = z
  .strictObject({
    allowed_commands: z.array(z.string().min(1)).default([]),
    allowed_env: z.array(z.string().min(1)).default([]),
  })
  .prefault({});

export const AuditSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    retention_days: z.number().min(0).default(30),
    arguments: z.boolean().default(false),
  })
  .prefault({});

/** [store]: where the gateway and coordination keep their data; several gateways share one PostgreSQL. */
export const StoreSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^(postgres(ql)?:\/\/.+)?$/, 'empty (SQLite in data_dir) or a postgres:// URL')
      .default(''),
    pool_size: z.number().int().min(1).max(1000).default(10),
    lease: z.number().min(0.1).default(15),
  })
  .prefault({});

/** The protocol era a backend is spoken to in: `auto` asks it (server/discover, falling back to initialize). */
export const BACKEND_PROTOCOLS = ['auto', '2025-11-25', '2026-07-28'] as const;
export type BackendProtocol = (typeof BACKEND_PROTOCOLS)[number];

export const BackendSchema = z
  .strictObject({
    name: z.string().regex(BACKEND_NAME, 'a name of 1 to 48 characters from [A-Za-z0-9_-], starting with a letter or digit'),
    transport: z.enum(TRANSPORT_NAMES).default('stdio'),
    command: z.string().min(1).optional(),
    args: z.array(z.string()).default([]),
    cwd: z.string().min(1).optional(),
    env: stringMap.default({}),
    inherit_env: z.boolean().default(false),
    url: z.url({ protocol: /^https?$/ }).optional(),
    headers: stringMap.default({}),
    affinity: z.enum(['shared', 'session']).default('shared'),
    // Unset: "auto" for http backends, "2025-11-25" for stdio (see BackendConfig.protocol).
    protocol: z.enum(BACKEND_PROTOCOLS).optional(),
    roots: z.array(z.string().min(1)).default([]),
    auto_restart: z.boolean().default(true),
    health_check: z.boolean().default(true),
    enabled: z.boolean().default(true),
    timeout: ms.optional(),
    start_timeout: ms.optional(),
    pool: z.strictObject(poolFields).partial().optional(),
    circuit_breaker: z.strictObject(breakerFields).partial().optional(),
    // [mcp-ext] Tools answered as Tasks-extension tasks to 2026-07-28 clients that declare it ("*": all).
    task_tools: z.array(z.string().min(1)).optional(),
    task_required: z.array(z.string().min(1)).optional(),
    // [oauth-out] The gateway as an OAuth client of this (http) backend: backend-oauth-schema.ts.
    oauth: BackendOAuthSchema.optional(),
  })
  .superRefine((b, ctx) => {
    const needs = TRANSPORT_NEEDS[b.transport];
    if (needs !== undefined && b[needs.key] === undefined) ctx.addIssue({ code: 'custom', path: [needs.key], message: needs.message });
    // [oauth-out] The token is the gateway's own: http only, and never beside a configured Authorization header.
    if (b.oauth !== undefined && b.transport !== 'http')
      ctx.addIssue({ code: 'custom', path: ['oauth'], message: 'oauth is for transport = "http" backends only' });
    if (b.oauth !== undefined && Object.keys(b.headers).some((h) => h.toLowerCase() === 'authorization')) {
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'an Authorization header and oauth exclude each other: the gateway sends its OAuth token' });
    }
  });

export const ConfigSchema = z
  .strictObject({
    server: ServerSchema,
    gateway: GatewaySchema,
    circuit_breaker: CircuitBreakerSchema,
    pool: PoolSchema,
    supervisor: SupervisorSchema,
    dispatch: DispatchSchema,
    coordination: CoordinationSchema,
    logging: LoggingSchema,
    auth: AuthSchema,
    security: SecuritySchema,
    audit: AuditSchema,
    store: StoreSchema,
    backends: z.array(BackendSchema).default([]),
    views: ViewsSchema,
    telemetry: TelemetrySchema, // [otel] read as config.raw.telemetry (telemetry-schema.ts)
  })
  .superRefine((c, ctx) => {
    // [[views]]: known backends (coord when coordination is on), unique renames, tokens' views (views-schema.ts).
    checkViews(c, new Set(c.coordination.enabled ? ['coord'] : []), ctx);
    const tokenNames = new Set<string>();
    c.auth.tokens.forEach((t, i) => {
      if (tokenNames.has(t.name)) ctx.addIssue({ code: 'custom', path: ['auth', 'tokens', i, 'name'], message: `duplicate token name '${t.name}'` });
      tokenNames.add(t.name);
    });
    if (c.auth.oauth.issuer !== '' && c.auth.oauth.resource === '' && !isLoopbackHost(c.server.host)) {
      ctx.addIssue({ code: 'custom', path: ['auth', 'oauth', 'resource'], message: 'set the URL clients reach /mcp at: the gateway is not on loopback' });
    }
    if (c.server.headers_timeout > c.server.request_body_timeout) {
      ctx.addIssue({ code: 'custom', path: ['server', 'headers_timeout'], message: 'must not be above request_body_timeout' });
    }
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
export type DispatchConfig = z.infer<typeof DispatchSchema>;
export type AuthSettings = z.infer<typeof AuthSchema>;
export type AuthTokenEntry = z.infer<typeof AuthTokenSchema>;
export type SecuritySettings = z.infer<typeof SecuritySchema>;
export type AuditSettings = z.infer<typeof AuditSchema>;
export type StoreSettings = z.infer<typeof StoreSchema>;

// The normalized config (what load.ts builds from the validated file): config-types.ts.
export type { BackendConfig, Config } from './config-types.js';
