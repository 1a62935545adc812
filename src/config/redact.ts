import { REDACTED, redactUrl } from '../../kit/redact-url.js';
import { GatewayError } from '../errors.js';
import type { BackendConfig, Config } from './schema.js';

// Defined by the coordination backend, which names its database URL in start errors without the password.
export { REDACTED, redactUrl };

function redactMap(map: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.keys(map).map((k) => [k, REDACTED]));
}

/** One backend as /config and /server/list may show it: env and header values never appear. */
export function redactBackend(b: BackendConfig): Record<string, unknown> {
  return {
    name: b.name,
    origin: b.origin,
    transport: b.transport,
    command: b.command,
    args: b.args,
    cwd: b.cwd,
    env: redactMap(b.env),
    inherit_env: b.inheritEnv,
    url: redactUrl(b.url),
    headers: redactMap(b.headers),
    ...(b.oauth === undefined ? {} : { oauth: redactOAuth(b.oauth) }), // [oauth-out]
    roots: b.roots,
    affinity: b.affinity,
    auto_restart: b.autoRestart,
    health_check: b.healthCheck,
    enabled: b.enabled,
    timeout: b.timeout,
    start_timeout: b.startTimeout,
    pool: b.pool,
    circuit_breaker: b.breaker,
  };
}

/**
 * The running config for GET /config: every section with its effective
 * values, and the backends as they are now (file and runtime), each with
 * its origin, secrets redacted.
 */
export function redactedConfig(config: Config, backends: readonly BackendConfig[]): Record<string, unknown> {
  return {
    file: config.file ?? null,
    server: {
      host: config.server.host,
      port: config.server.port,
      data_dir: config.server.dataDir,
      headers_timeout: config.server.headersTimeout,
      request_body_timeout: config.server.bodyTimeout,
      keep_alive_timeout: config.server.keepAliveTimeout,
      heap: config.server.heap,
    },
    gateway: config.gateway,
    circuit_breaker: config.breaker,
    pool: config.pool,
    supervisor: config.supervisor,
    dispatch: config.dispatch,
    coordination: config.coordination,
    logging: config.logging,
    auth: {
      ...config.auth,
      // Only names, roles and lists: never a token, nor its hash (a hash of a weak token can be guessed).
      tokens: config.auth.tokens.map((t) => ({ ...t, hash: t.hash === undefined ? undefined : REDACTED, token: t.token === undefined ? undefined : REDACTED })),
      oauth: { ...config.auth.oauth, client_secret: config.auth.oauth.client_secret === '' ? '' : REDACTED },
    },
    security: config.security,
    audit: config.audit,
    store: { ...config.store, url: redactUrl(config.store.url) },
    // [otel] Export headers carry a vendor's API key: names only.
    telemetry: { ...config.raw.telemetry, headers: Object.fromEntries(Object.keys(config.raw.telemetry.headers).map((h) => [h, REDACTED])) },
    backends: backends.map(redactBackend),
  };
}

/**
 * The Basic credential (base64 of `user:pass`) that a URL's userinfo becomes
 * (connect.ts sends it as `Authorization: Basic …`); undefined without userinfo.
 */
export function basicCredential(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined;
  return Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
}

/** The secrets in a backend URL: its password (the user when there is none) and the Basic credential derived from it. */
export function urlSecrets(raw: string | undefined): string[] {
  let url: URL;
  try {
    url = new URL(raw ?? '');
  } catch {
    return [];
  }
  const basic = basicCredential(url);
  if (basic === undefined) return [];
  // A URL with a user and no password carries its token as the user (https://TOKEN@host).
  const secret = url.password === '' ? url.username : url.password;
  // An upstream that echoes request headers in an error quotes the derived value, not the password.
  return [secret, decodeURIComponent(secret), basic];
}

/**
 * The parts of a header value that are secrets by themselves: the credential
 * of `<scheme> <credential>` (an upstream may quote the token alone), and for
 * Basic the decoded `user:pass` and its password.
 */
export function headerSecrets(value: string): string[] {
  const match = /^\s*([A-Za-z][\w.+-]*)\s+(\S+)\s*$/.exec(value);
  if (match === null) return [];
  const [, scheme, credential] = match as unknown as [string, string, string];
  if (scheme.toLowerCase() !== 'basic') return [credential];
  const decoded = Buffer.from(credential, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? [credential] : [credential, decoded, decoded.slice(colon + 1)];
}

/** The secret values of a backend: env values, header values (and their credentials), the URL's password and its Basic credential. */
export function secretsOf(b: BackendConfig): string[] {
  const headers = Object.values(b.headers);
  const values = [
    ...Object.values(b.env),
    ...headers,
    ...headers.flatMap(headerSecrets),
    ...urlSecrets(b.url),
    ...(b.oauth?.client_secret === undefined ? [] : [b.oauth.client_secret]),
    ...(b.oauth?.grant === 'client_credentials' && b.oauth.private_key !== undefined ? [b.oauth.private_key] : []),
  ];
  // Short values ("1", "true") would blank out ordinary words.
  return values.filter((v) => v.length >= 6);
}

/** Replaces every secret of the backend found in `text` (an error message, a stderr line). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
}

/** Every string inside a JSON-like value with the secrets replaced (a /server/list row, a stderr tail). */
export function scrubDeep<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') return scrub(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => scrubDeep(v, secrets)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, secrets)])) as T;
  }
  return value;
}

/** The error with secrets taken out of its message and details (the same error when there were none). */
export function scrubError(error: GatewayError, secrets: readonly string[]): GatewayError {
  const message = scrub(error.message, secrets);
  const details = error.details === undefined ? undefined : scrubDeep(error.details, secrets);
  if (message === error.message && JSON.stringify(details) === JSON.stringify(error.details)) return error;
  return new GatewayError(error.code, message, { retryAfter: error.retryAfter, details });
}

/** [oauth-out] A backend's oauth with its secrets (client_secret, private_key) shown as redacted. */
function redactOAuth(oauth: NonNullable<BackendConfig['oauth']>): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...oauth };
  for (const key of ['client_secret', 'private_key']) if (shown[key] !== undefined) shown[key] = REDACTED;
  return shown;
}
