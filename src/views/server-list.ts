import type { ToolChange } from '../catalog/catalog.js';
import { scrubDeep } from '../config/redact.js';
import type { BackendConfig } from '../config/schema.js';
import type { PoolStats } from '../pool/pool.js';
import type { CircuitState } from '../router/breaker.js';
import type { CallLog } from '../router/call-log.js';
import type { BackendInfo, BackendState } from '../supervisor/backend.js';
import { type OAuthView, oauthView } from '../supervisor/backend-oauth.js';
import type { ProtocolView } from '../supervisor/era.js';

/** One row of GET /server/list. */
export interface ServerView {
  name: string;
  status: BackendState;
  transport: BackendConfig['transport'];
  origin: BackendConfig['origin'];
  enabled: boolean;
  tool_count: number;
  uptime_seconds: number;
  circuit: CircuitState;
  total_calls: number;
  error_rate: number;
  pool: PoolStats;
  pid: number | null;
  restarts: number;
  last_error: string | null;
  last_stderr: readonly string[];
  tool_changes: readonly ToolChange[];
  /** The configured protocol and the era verdict: `{configured, era, version, how, probed_at}`. */
  protocol: ProtocolView;
  /** [oauth-out] A backend with oauth: `{grant, status, expires_at}`, never a token or a secret. */
  oauth?: OAuthView;
}

/** What GET /server/list reads of the gateway. */
export interface ServerListSources {
  backends(): readonly { name: string; info(): BackendInfo; config?: Pick<BackendConfig, 'oauth'> }[];
  enabled(name: string): boolean;
  toolCount(name: string): number;
  toolChanges(name: string): readonly ToolChange[];
  circuitState(name: string): CircuitState;
  callLog: Pick<CallLog, 'backend'>;
  /** Every secret the gateway knows, scrubbed from errors and stderr lines. */
  secrets(): readonly string[];
}

/** Rows of GET /server/list (and gate_status) for `servers` (all when undefined); secrets in errors and stderr lines are scrubbed. */
export function serverList(sources: ServerListSources, servers?: ReadonlySet<string>): ServerView[] {
  const rows = sources
    .backends()
    .filter((b) => servers === undefined || servers.has(b.name))
    .map((backend) => {
      const info = backend.info();
      const stats = sources.callLog.backend(backend.name);
      return {
        name: info.name,
        status: info.status,
        transport: info.transport,
        origin: info.origin,
        enabled: sources.enabled(backend.name),
        tool_count: sources.toolCount(backend.name),
        uptime_seconds: info.uptime_seconds,
        circuit: sources.circuitState(backend.name),
        total_calls: stats.calls,
        error_rate: stats.error_rate,
        pool: info.pool,
        pid: info.pid ?? null,
        restarts: info.restarts,
        last_error: info.last_error,
        last_stderr: info.last_stderr,
        tool_changes: sources.toolChanges(backend.name),
        protocol: info.protocol,
        // [oauth-out] never a token or a secret
        ...(backend.config?.oauth === undefined ? {} : { oauth: oauthView(backend.name, backend.config.oauth, info.status === 'needs_auth') }),
      };
    });
  return scrubDeep(rows, sources.secrets());
}
