import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { Security } from '../auth/security.js';
import type { ActingAsDeclaration, AgentPush } from '../builtins/builtin-backend.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ReloadStatus, ReloadTrigger } from '../config/reload-diff.js';
import type { Config } from '../config/schema.js';
import type { DispatchTable } from '../dispatch/table.js';
import type { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallLog } from '../router/call-log.js';
import type { Router } from '../router/router.js';
import type { Roster } from '../supervisor/roster.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { HealthReport } from '../views/health-report.js';
import type { Readiness } from '../views/readiness.js';
import type { ServerView } from '../views/server-list.js';
import type { Sessions } from './sessions.js';

/** A mounted built-in backend as the front door serves it: its REST routes and who its requests act as. */
export interface BuiltinRoutes {
  readonly name: string;
  readonly routes: Hono | undefined;
  /** Its event streams, as paths under /<name>. */
  readonly streams: readonly string[];
  /** Its health probes, as paths under /<name>: public, Host/Origin checked. */
  readonly probes: readonly string[];
  readonly identity: ActingAsDeclaration | undefined;
  /** What counts an agent token's call as its agent's activity (BuiltinMount.activity). */
  readonly activity: ((agent: string) => Promise<void>) | undefined;
  /** [coord-push] What it pushes into agents' sessions (coord-push.ts), when it does. */
  readonly mount?: { readonly push?: AgentPush };
}

/**
 * Everything the front doors (src/http, and the MCP session code here) may
 * read or call of the gateway, as a structural interface the composition
 * root (src/gateway/gateway.ts) satisfies. Each module takes a `Pick` of it — the
 * few members it uses — never the Gateway class, so none of them imports
 * gateway.ts and a test can hand in a fake of just those members.
 */
export interface GatewaySurface {
  /** The loaded configuration (limits, [dispatch], exposure defaults). */
  readonly config: Config;
  /** The root logger; modules bind children. */
  readonly logger: Logger;
  /** The backends: look-ups by name, start and stop. */
  readonly supervisor: Supervisor;
  /** The tool catalog: listing, search, resolving exposed names. */
  readonly catalog: Catalog;
  /** Recent calls and per-backend stats (GET /log, /stats, the live feed). */
  readonly callLog: CallLog;
  /** Calls and forwards to backends, through breakers and pools. */
  readonly router: Router;
  /** The open MCP sessions (list_changed, subscriptions). */
  readonly sessions: Sessions;
  /** The Prometheus registry of GET /metrics. */
  readonly metrics: Registry;
  /** Tokens, caps, the audit log and the secrets to scrub. */
  readonly security: Security;
  /** The mounted built-in backends' routes and identity declarations. */
  readonly builtins: readonly BuiltinRoutes[];
  /** Async calls; throws before the gateway started. */
  readonly dispatch: DispatchTable;
  /** Runtime changes to the backend list; throws before the gateway started. */
  readonly roster: Roster;
  /** Live reloads of the config file: POST /config/reload, the `reload` of GET /config. */
  readonly reloader: { reload(trigger: ReloadTrigger): Promise<ReloadStatus>; status(): ReloadStatus };
  /** Waits (at most `capMs`) for the first start of the configured backends. */
  settled(capMs?: number): Promise<void>;
  /** Registers cleanup (a front door's sessions) to run when the gateway stops. */
  onStop(fn: () => Promise<void>): void;
  /** Rows of GET /server/list and gate_status. */
  serverList(servers?: ReadonlySet<string>): ServerView[];
  /** The body of GET /health. */
  health(): Promise<HealthReport>;
  /** The body of GET /readyz (views/readiness.ts). */
  readiness(): Promise<Readiness>;
  /** A storage error met on the gateway database as STORE_UNAVAILABLE; undefined for other errors. */
  storeError(error: unknown): GatewayError | undefined;
}
