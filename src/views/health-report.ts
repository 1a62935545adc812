// GET /health has one shape for every condition the gateway can be in:
// `status` is the worst of the named entries under `checks`, each with its
// own status and a detail sentence. Only `down` (the gateway cannot serve)
// answers 503; `degraded` still serves and answers 200. /health needs no
// token, so details give counts and data_dir-relative file names, never
// backend names or secrets.

/** The status of GET /health and of each of its checks. */
export type HealthStatus = 'ok' | 'degraded' | 'down';

/** One named condition under `checks`. */
export interface HealthCheck {
  status: HealthStatus;
  /** What is wrong and what to do, or what is fine. */
  detail: string;
}

/** The body of GET /health. */
export interface HealthReport {
  status: HealthStatus;
  checks: Record<string, HealthCheck>;
  [field: string]: unknown;
}

const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, down: 2 };

/** The worst status among the checks (`ok` for none). */
export function worstOf(checks: Record<string, HealthCheck>): HealthStatus {
  let worst: HealthStatus = 'ok';
  for (const check of Object.values(checks)) if (RANK[check.status] > RANK[worst]) worst = check.status;
  return worst;
}

/** What the backends look like to /health: counts only. */
export interface BackendCounts {
  /** Enabled backends. */
  total: number;
  /** Of those, how many are running. */
  running: number;
  /** Of those, how many have a circuit that is not closed. */
  circuitsNotClosed: number;
}

/** The `backends` and `circuits` checks. */
export function backendChecks(counts: BackendCounts): Record<string, HealthCheck> {
  const { total, running, circuitsNotClosed } = counts;
  return {
    backends:
      running === total
        ? { status: 'ok', detail: `${running} of ${total} enabled backends running` }
        : { status: 'degraded', detail: `${running} of ${total} enabled backends running; GET /server/list (admin) shows which and why` },
    circuits:
      circuitsNotClosed === 0
        ? { status: 'ok', detail: 'every circuit closed' }
        : {
            status: 'degraded',
            detail: `${circuitsNotClosed} circuit(s) open or half-open; calls to those backends fail fast until they recover (POST /server/reset closes one by hand)`,
          },
  };
}

/** What GET /health reads of the gateway. */
export interface HealthSources {
  /** The backends that count: enabled ones (a backend stopped through the API is not ill). */
  enabledBackends(): readonly { name: string; state: string }[];
  circuitState(name: string): string;
  /** The stores' check, once they are open. */
  storeCheck(): Promise<(HealthCheck & { named?: Record<string, HealthCheck> }) | undefined>;
  version: string;
  startedAt: number;
}

/**
 * GET /health: `ok` when every enabled backend serves with its circuit
 * closed and the stores are usable; `degraded` otherwise; `down` when the
 * gateway database is not usable (checks.store says why).
 */
export async function healthReport(sources: HealthSources): Promise<HealthReport> {
  const backends = sources.enabledBackends();
  const running = backends.filter((b) => b.state === 'running').length;
  const circuitsNotClosed = backends.filter((b) => sources.circuitState(b.name) !== 'closed').length;
  const store = await sources.storeCheck();
  const checks: Record<string, HealthCheck> = backendChecks({ total: backends.length, running, circuitsNotClosed });
  if (store !== undefined) {
    // [pg-speed] Named checks the store monitor adds (fingerprints), each beside `store`.
    const { named, ...own } = store;
    checks.store = own;
    Object.assign(checks, named);
  }
  // [oauth-out] Backends without an OAuth token they accept (counts only: /health needs no token).
  const needsAuth = backends.filter((b) => b.state === 'needs_auth').length;
  if (needsAuth > 0) {
    checks.needs_auth = {
      status: 'degraded',
      detail: `${needsAuth} backend(s) need auth: the gateway has no OAuth token they accept; GET /server/list (admin) shows which and why (last_error); fix the oauth settings or the authorization server, then POST /server/restart`,
    };
  }
  return {
    status: worstOf(checks),
    checks,
    version: sources.version,
    uptime_seconds: Math.floor((Date.now() - sources.startedAt) / 1000),
    backends_total: backends.length,
    backends_healthy: running,
    circuits_open: circuitsNotClosed,
  };
}
