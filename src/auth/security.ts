import { isLoopbackHost } from '../../kit/loopback.js';
import type { Catalog } from '../catalog/catalog.js';
import { ConfigError } from '../config/load.js';
import { secretsOf } from '../config/redact.js';
import type { BackendConfig, Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { AuditLog, type AuditStore } from '../store/audit.js';
import type { FingerprintStore } from '../store/fingerprints.js';
import { type CapLimits, ClientCaps, streamCap } from './client-caps.js';
import { OAuthVerifier } from './oauth.js';
import { RateLimiter } from './rate-limit.js';
import { SubjectTokens } from './subject-tokens.js';
import { TokenTable } from './tokens.js';

export interface SecurityOptions {
  config: Config;
  logger: Logger;
  catalog: Catalog;
  /** Every backend's config as it is now (file and runtime), for the secrets to scrub. */
  backends: () => readonly BackendConfig[];
}

/**
 * The gateway's security stage: tokens and their limits (which the call
 * guard, call-guard.ts, enforces on every call once the gateway wires it
 * into the router), the audit log and the tool fingerprints,
 * and the secrets that must never be shown.
 */
export class Security {
  readonly tokens: TokenTable;
  /** [auth.oauth]: bearer JWTs of an identity provider, when an issuer is configured. */
  readonly oauth: OAuthVerifier | undefined;
  readonly limiter = new RateLimiter();
  /** [oauth-out] The callers' inbound OAuth tokens, in memory, for token exchange toward backends. */
  readonly subjects = new SubjectTokens();
  /** Sessions and event streams per client, and in all (client-caps.ts). */
  readonly caps: ClientCaps;
  #options: SecurityOptions;
  #audit: AuditLog | undefined;

  constructor(options: SecurityOptions) {
    this.#options = options;
    const { config } = options;
    this.tokens = new TokenTable(config.auth);
    this.oauth = config.auth.oauth.issuer === '' ? undefined : new OAuthVerifier(config.auth);
    this.caps = new ClientCaps(capLimits(config));
  }

  /**
   * Refuses to listen on an address others can reach while no token is
   * configured: POST /server/add runs commands and every agent's tools are
   * behind the gateway. A ConfigError, so `stonegate serve` exits 2.
   */
  assertBindable(): void {
    const { host } = this.#options.config.server;
    if (this.enabled || isLoopbackHost(host)) return;
    throw new ConfigError(
      `refusing to listen on ${host}: no [auth] tokens are configured, so anyone who can reach this address could run commands (POST /server/add) and call every tool. ` +
        'Configure [[auth.tokens]] in stonegate.toml (docs/security.md), or bind a loopback address ([server] host = "127.0.0.1" or --host 127.0.0.1)',
    );
  }

  /** Takes on a reloaded configuration (gateway/reload.ts): its tokens, their scopes and limits, and the secrets to scrub. */
  reload(config: Config): void {
    this.#options = { ...this.#options, config };
    this.tokens.replace(config.auth);
    this.caps.setLimits(capLimits(config));
  }

  /** Whether requests need a bearer token: [auth] has tokens or [auth.oauth] an issuer. */
  get enabled(): boolean {
    return this.tokens.enabled || this.oauth !== undefined;
  }

  /** Takes the tool fingerprints (data_dir, or the shared database of [store] url) and, unless [audit] enabled = false, opens the audit log (in `audit`). */
  open(fingerprints: FingerprintStore, audit: AuditStore): void {
    const { config, catalog, logger } = this.#options;
    catalog.useFingerprints(fingerprints);
    if (config.audit.enabled) this.#audit = new AuditLog(audit, config.audit, logger.child({ stage: 'audit' }));
  }

  /** The persistent audit log, when enabled and open. */
  get audit(): AuditLog | undefined {
    return this.#audit;
  }

  /** Every value that must not be shown: backends' env and header values and URL passwords, and tokens read from the environment. */
  secrets(): string[] {
    const tokens = this.#options.config.auth.tokens.flatMap((t) => (t.token === undefined ? [] : [t.token]));
    const oauth = this.#options.config.auth.oauth.client_secret;
    return [...this.#options.backends().flatMap(secretsOf), ...tokens, ...(oauth === '' ? [] : [oauth])];
  }

  /** Writes what the audit log has queued (before the database closes). */
  async close(): Promise<void> {
    await this.#audit?.close();
  }
}

/** The session and stream caps of [gateway] (max_streams = 0 resolved). */
function capLimits(config: Config): CapLimits {
  const g = config.gateway;
  return {
    sessions: g.max_connections,
    streams: streamCap(g.max_streams, g.max_connections),
    sessionsPerClient: g.max_sessions_per_client,
    streamsPerClient: g.max_streams_per_client,
    adminReserve: g.admin_reserve,
  };
}
