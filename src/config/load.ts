import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { refusePlainBackendSecrets } from './backend-oauth-schema.js';
import { didYouMean } from './did-you-mean.js';
import { typedEnvReferences } from './env-scalars.js';
import { type AuthSettings, type BackendConfig, BackendSchema, type Config, ConfigSchema, type RawConfig } from './schema.js';

/** A config that cannot be used; the message names the file and the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Values given on the command line; they win over the file. */
export interface ConfigOverrides {
  host?: string;
  port?: number;
  dataDir?: string;
  logLevel?: string;
  logFormat?: string;
}

export interface LoadOptions {
  /** Path of the TOML file; when absent and `./stonegate.toml` is missing, embedded defaults are used. */
  file?: string;
  /** Whether `file` was given explicitly (then a missing file is an error). */
  explicit?: boolean;
  overrides?: ConfigOverrides;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const ENV_REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` (or `${VAR:-default}`) in every string of the parsed
 * TOML. A missing variable without a default is an error naming the key,
 * never an empty string: a silently empty token or URL is worse than a
 * refusal to start. `$$` stands for a literal `$`.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      // As in the shell's ${VAR:-x}, an empty variable is as good as unset.
      const found = env[name ?? ''];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${formatPath(path)}: environment variable ${name} is ${found === '' ? 'empty' : 'not set'} (referenced as ${match})`);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, env, [...path, k]);
    return out;
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** One line per problem: `file: key.path: what was expected`; an unknown key says which known key is nearest. */
export function formatZodError(error: z.ZodError, source: string, schema?: z.ZodType): string {
  return error.issues
    .map((issue) => {
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') message = unknownKeys(issue.keys, issue.path, schema);
      const where = issue.path.length === 0 ? '' : `${formatPath(issue.path)}: `;
      return source === '' ? `${where}${message}` : `${source}: ${where}${message}`;
    })
    .join(source === '' ? '; ' : '\n');
}

/**
 * Top-level tables that configs written from the product seed documents
 * carry but stonegate has no use for: the message says to delete them
 * rather than leave the user hunting for the right spelling.
 */
const FOREIGN_TABLES: Readonly<Record<string, string>> = {
  license: 'licensing is not part of stonegate and nothing reads this table; delete the [license] table',
  events:
    "the seed's [events] keys (sse_keepalive, max_event_buffer) are [coordination] keys here: move them to [coordination] (stonegate coord -c takes the seed's own file as it is)",
};

function unknownKeys(keys: readonly string[], path: readonly PropertyKey[], schema: z.ZodType | undefined): string {
  const known = schema === undefined ? [] : keysAt(schema, path);
  return keys
    .map((key) => {
      const foreign = path.length === 0 ? FOREIGN_TABLES[key] : undefined;
      if (foreign !== undefined) return `unknown key '${key}': ${foreign}`;
      return `unknown key '${key}'${didYouMean(key, known)}`;
    })
    .join('; ');
}

/** The keys a strict object of `schema` accepts at `path` (through defaults, optionals, arrays); [] when there is none. */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let def = schema._zod.def as unknown as SchemaDef;
  let i = 0;
  for (;;) {
    if (def.type === 'object' && def.shape !== undefined) {
      if (i === path.length) return Object.keys(def.shape);
      const next = def.shape[String(path[i])];
      if (next === undefined) return [];
      def = next._zod.def as unknown as SchemaDef;
      i += 1;
    } else if (def.type === 'array' && def.element !== undefined) {
      if (typeof path[i] !== 'number') return [];
      def = def.element._zod.def as unknown as SchemaDef;
      i += 1;
    } else if (def.innerType !== undefined) {
      def = def.innerType._zod.def as unknown as SchemaDef;
    } else if (def.type === 'pipe' && def.in !== undefined) {
      def = def.in._zod.def as unknown as SchemaDef;
    } else {
      return [];
    }
  }
}

/** The parts of a zod schema's definition that keysAt walks. */
interface SchemaDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
}

function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return resolve(homedir(), path.slice(2));
  return path;
}

function resolveFrom(baseDir: string, path: string): string {
  const expanded = expandHome(path);
  return isAbsolute(expanded) ? expanded : resolve(baseDir, expanded);
}

/**
 * Resolves one backend entry against the global sections: per-backend
 * overrides of pool, breaker and timeouts win, paths resolve against the
 * config file's folder.
 */
export function normalizeBackend(
  entry: z.infer<typeof BackendSchema>,
  raw: Pick<RawConfig, 'gateway' | 'pool' | 'circuit_breaker' | 'supervisor'>,
  baseDir: string,
  origin: BackendConfig['origin'],
): BackendConfig {
  return Object.freeze({
    name: entry.name,
    transport: entry.transport,
    command: entry.command,
    args: Object.freeze([...entry.args]),
    cwd: entry.cwd === undefined ? baseDir : resolveFrom(baseDir, entry.cwd),
    env: Object.freeze({ ...entry.env }),
    inheritEnv: entry.inherit_env,
    url: entry.url,
    headers: Object.freeze({ ...entry.headers }),
    affinity: entry.affinity,
    protocol: entry.protocol ?? (entry.transport === 'http' ? 'auto' : '2025-11-25'),
    roots: Object.freeze(entry.roots.map((r) => (/^[a-z][a-z0-9+.-]*:/i.test(r) ? r : pathToFileURL(resolveFrom(baseDir, r)).href))),
    ...(entry.task_tools === undefined ? {} : { taskTools: Object.freeze([...entry.task_tools]) }),
    ...(entry.task_required === undefined ? {} : { taskRequired: Object.freeze([...entry.task_required]) }),
    ...(entry.oauth === undefined ? {} : { oauth: Object.freeze({ ...entry.oauth, scopes: Object.freeze([...entry.oauth.scopes]) }) }), // [oauth-out]
    autoRestart: entry.auto_restart,
    healthCheck: entry.health_check,
    enabled: entry.enabled,
    timeout: entry.timeout ?? raw.gateway.request_timeout,
    maxTimeout: Math.max(entry.timeout ?? 0, raw.gateway.max_request_timeout),
    startTimeout: entry.start_timeout ?? raw.supervisor.start_timeout,
    pool: Object.freeze({ ...raw.pool, ...entry.pool }),
    breaker: Object.freeze({ ...raw.circuit_breaker, ...entry.circuit_breaker }),
    supervisor: Object.freeze({ ...raw.supervisor }),
    origin,
  });
}

/** Validates a backend entry given at runtime (same schema as the TOML entry). */
export function parseBackendEntry(input: unknown, raw: Pick<RawConfig, 'gateway' | 'pool' | 'circuit_breaker' | 'supervisor'>, baseDir: string): BackendConfig {
  const result = BackendSchema.safeParse(input);
  if (!result.success) throw new ConfigError(formatZodError(result.error, '', BackendSchema));
  // [oauth-out] A client secret would be kept in the runtime store as given: oauth backends are configured in the file.
  if (result.data.oauth !== undefined)
    throw new ConfigError('oauth: a backend with oauth is configured in the file (its client_secret from the environment), not added at runtime');
  return normalizeBackend(result.data, raw, baseDir, 'runtime');
}

/** Parses, validates and normalizes a config object (already read from TOML). */
export function buildConfig(input: unknown, source: string, baseDir: string, overrides: ConfigOverrides = {}): Config {
  const withOverrides = applyOverrides(input, overrides);
  const result = ConfigSchema.safeParse(withOverrides);
  if (!result.success) throw new ConfigError(formatZodError(result.error, source, ConfigSchema));
  const raw = result.data;
  return Object.freeze({
    file: source === '(defaults)' ? undefined : source,
    server: Object.freeze({
      host: raw.server.host,
      port: raw.server.port,
      dataDir: resolveFrom(baseDir, raw.server.data_dir),
      headersTimeout: raw.server.headers_timeout,
      bodyTimeout: raw.server.request_body_timeout,
      keepAliveTimeout: raw.server.keep_alive_timeout,
      heap: raw.server.heap,
    }),
    gateway: Object.freeze({ ...raw.gateway }),
    breaker: Object.freeze({ ...raw.circuit_breaker }),
    pool: Object.freeze({ ...raw.pool }),
    supervisor: Object.freeze({ ...raw.supervisor }),
    dispatch: Object.freeze({ ...raw.dispatch }),
    coordination: Object.freeze({ ...raw.coordination }),
    logging: Object.freeze({ ...raw.logging }),
    auth: Object.freeze({
      ...raw.auth,
      tokens: Object.freeze(raw.auth.tokens.map((t) => Object.freeze({ ...t }))) as AuthSettings['tokens'],
      oauth: Object.freeze({ ...raw.auth.oauth }),
    }),
    security: Object.freeze({ ...raw.security }),
    audit: Object.freeze({ ...raw.audit }),
    store: Object.freeze({ ...raw.store }),
    backends: Object.freeze(raw.backends.map((b) => normalizeBackend(b, raw, baseDir, 'file'))),
    views: Object.freeze(raw.views),
    raw,
    baseDir,
  });
}

function applyOverrides(input: unknown, o: ConfigOverrides): unknown {
  const root = (input !== null && typeof input === 'object' ? { ...input } : {}) as Record<string, Record<string, unknown>>;
  const section = (name: string): Record<string, unknown> => {
    const current = root[name];
    const copy = current !== undefined && typeof current === 'object' ? { ...current } : {};
    root[name] = copy;
    return copy;
  };
  if (o.host !== undefined) section('server').host = o.host;
  if (o.port !== undefined) section('server').port = o.port;
  if (o.dataDir !== undefined) section('server').data_dir = o.dataDir;
  if (o.logLevel !== undefined) section('logging').level = o.logLevel;
  if (o.logFormat !== undefined) section('logging').format = o.logFormat;
  return root;
}

/**
 * Adds `STONEGATE_CONFIG_DIR` (the config file's folder) and
 * `STONEGATE_DATA_DIR` (the resolved data_dir) to the variables a config may
 * reference, so a backend can be given an absolute path inside the data
 * folder (e.g. server-memory's MEMORY_FILE_PATH) without knowing where the
 * gateway was installed.
 */
function withBuiltins(parsed: unknown, env: NodeJS.ProcessEnv, configDir: string, overrides: ConfigOverrides = {}): NodeJS.ProcessEnv {
  const server = (parsed as { server?: { data_dir?: unknown } }).server;
  const rawDataDir = overrides.dataDir ?? (typeof server?.data_dir === 'string' ? server.data_dir : '~/.stonegate');
  const dataDir = resolveFrom(configDir, String(interpolateEnv(rawDataDir, env, ['server', 'data_dir'])));
  return { ...env, STONEGATE_CONFIG_DIR: configDir, STONEGATE_DATA_DIR: dataDir };
}

/**
 * A bearer token written into the file would be read by whoever reads the
 * file (and its git history): `[[auth.tokens]] token` must reference the
 * environment; a token kept with the config is given by its sha256 `hash`.
 */
function refusePlainTokens(parsed: unknown, file: string): void {
  const secret = (parsed as { auth?: { oauth?: { client_secret?: unknown } } }).auth?.oauth?.client_secret;
  if (typeof secret === 'string' && secret !== '' && !/\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}/.test(secret)) {
    throw new ConfigError(
      `${file}: auth.oauth.client_secret: a secret must not be written in the file; reference the environment (client_secret = "\${STONEGATE_OAUTH_SECRET}")`,
    );
  }
  const tokens = (parsed as { auth?: { tokens?: unknown } }).auth?.tokens;
  if (!Array.isArray(tokens)) return;
  tokens.forEach((entry: unknown, i) => {
    const token = (entry as { token?: unknown } | null)?.token;
    if (typeof token === 'string' && !/\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}/.test(token)) {
      throw new ConfigError(
        `${file}: auth.tokens[${i}].token: a token must not be written in the file; reference the environment (token = "\${AGENT_TOKEN}") or give its hash (hash = "sha256:<hex>", from: printf %s "$TOKEN" | sha256sum)`,
      );
    }
  });
}

/**
 * Reads stonegate.toml (or the embedded defaults when no file is given and
 * none is in the working folder), interpolates the environment and validates.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const file = resolve(cwd, options.file ?? 'stonegate.toml');
  if (!existsSync(file)) {
    if (options.explicit === true) throw new ConfigError(`${file}: no such config file (write one with stonegate init, or drop -c to use the defaults)`);
    return buildConfig({}, '(defaults)', cwd, options.overrides);
  }
  let parsed: unknown;
  try {
    parsed = parseToml(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof TomlError) throw new ConfigError(`${file}: line ${err.line}, column ${err.column}: ${err.message.split('\n')[0] ?? 'invalid TOML'}`);
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  refusePlainTokens(parsed, file);
  // [oauth-out] a backend's oauth.client_secret comes from the environment too.
  const plainSecret = refusePlainBackendSecrets(parsed, file);
  if (plainSecret !== undefined) throw new ConfigError(plainSecret);
  let interpolated: unknown;
  try {
    interpolated = interpolateEnv(parsed, withBuiltins(parsed, env, dirname(file), options.overrides));
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  return buildConfig(typedEnvReferences(parsed, interpolated), file, dirname(file), options.overrides);
}
