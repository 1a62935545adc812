import type { BackendConfig, Config } from './schema.js';

/*
 * What a reload of stonegate.toml changes (docs/configuration.md "Live
 * configuration"): the file's backends diffed by name, and the sections
 * that cannot change while the gateway runs.
 */

/** The file's backends, old against new, by name. */
export interface BackendDiff {
  /** In the new file only: started. */
  readonly added: readonly BackendConfig[];
  /** In the old file only: drained and stopped. */
  readonly removed: readonly string[];
  /** Entries whose process or connection changes (command, args, env, url, headers, transport, protocol, pool…): restarted one by one. */
  readonly restarted: readonly BackendConfig[];
  /** Entries where only `timeout`, `max_timeout` or the breaker changed: applied to the running backend. */
  readonly updated: readonly BackendConfig[];
  readonly unchanged: readonly string[];
}

/** The keys of a backend that apply to the next call, without a new process. */
const IN_PLACE = ['timeout', 'maxTimeout', 'breaker'] as const;

function withoutInPlace(config: BackendConfig): string {
  const rest: Record<string, unknown> = { ...config };
  for (const key of IN_PLACE) delete rest[key];
  return JSON.stringify(rest);
}

export function diffBackends(before: readonly BackendConfig[], after: readonly BackendConfig[]): BackendDiff {
  const old = new Map(before.map((b) => [b.name, b]));
  const next = new Map(after.map((b) => [b.name, b]));
  const diff = {
    added: [] as BackendConfig[],
    removed: [] as string[],
    restarted: [] as BackendConfig[],
    updated: [] as BackendConfig[],
    unchanged: [] as string[],
  };
  for (const name of old.keys()) if (!next.has(name)) diff.removed.push(name);
  for (const [name, entry] of next) {
    const previous = old.get(name);
    if (previous === undefined) diff.added.push(entry);
    else if (JSON.stringify(previous) === JSON.stringify(entry)) diff.unchanged.push(name);
    else if (withoutInPlace(previous) === withoutInPlace(entry)) diff.updated.push(entry);
    else diff.restarted.push(entry);
  }
  return diff;
}

/**
 * Sections a running gateway cannot take on (the listener, the data folder,
 * the stores, what the stages were built with): a change to one is reported
 * as "needs restart" and the whole section keeps its running value.
 */
const RESTART_SECTIONS = ['server', 'store', 'gateway', 'dispatch', 'coordination', 'logging', 'security', 'audit'] as const;

/** Keys of restart-only sections that apply live all the same. */
const LIVE_KEYS = new Set([
  'gateway.request_timeout',
  'gateway.max_request_timeout',
  // The session and stream caps (auth/client-caps.ts).
  'gateway.max_connections',
  'gateway.max_sessions_per_client',
  'gateway.max_streams_per_client',
  'gateway.max_streams',
  'gateway.admin_reserve',
  'logging.level',
]);

/** Live: [[backends]] (with [pool], [circuit_breaker], [supervisor] defaults), [auth] tokens and limits, views. */
export interface ConfigPlan {
  /** The configuration to serve: the new file, with each restart-only section as it runs now. */
  readonly config: Config;
  /** Dotted keys that changed but wait for a restart (`server.port`, `auth.oauth`). */
  readonly needsRestart: readonly string[];
}

const changedKeys = (section: string, a: object, b: object): string[] => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return [...keys].filter((k) => JSON.stringify(ra[k]) !== JSON.stringify(rb[k])).map((k) => `${section}.${k}`);
};

export function planConfig(current: Config, next: Config): ConfigPlan {
  const needsRestart: string[] = [];
  const merged: Record<string, unknown> = { ...next };
  for (const section of RESTART_SECTIONS) {
    // Keys as the file spells them (server.data_dir), compared on the validated file with the command line's overrides.
    const keys = changedKeys(section, current.raw[section], next.raw[section]).filter((k) => !LIVE_KEYS.has(k));
    if (keys.length === 0) continue;
    needsRestart.push(...keys);
    // The section as it runs, but for its live keys: the default call timeouts reach each backend's entry, which applies them; the log level is the root logger's.
    const live = Object.entries(next[section]).filter(([key]) => LIVE_KEYS.has(`${section}.${key}`));
    merged[section] = Object.freeze({ ...current[section], ...Object.fromEntries(live) });
  }
  // The OAuth verifier is built at start; tokens and limits apply live.
  let auth = next.auth;
  if (JSON.stringify(current.auth.oauth) !== JSON.stringify(next.auth.oauth)) {
    needsRestart.push('auth.oauth');
    auth = Object.freeze({ ...next.auth, oauth: current.auth.oauth });
  }
  merged.auth = auth;
  // [otel] Tracing starts with the gateway: [telemetry] waits for a restart.
  needsRestart.push(...changedKeys('telemetry', current.raw.telemetry, next.raw.telemetry));
  return { config: Object.freeze(merged) as unknown as Config, needsRestart };
}

/** What started a reload. */
export type ReloadTrigger = 'file' | 'signal' | 'api' | 'start';

/** The outcome of the last reload, as GET /config, POST /config/reload and (without the error text) GET /health show it. */
export interface ReloadStatus {
  status: 'ok' | 'error';
  /** sha256 of the file served (its first 16 hex digits); for an error, of the file still served. */
  revision: string | undefined;
  /** When (ISO 8601). */
  at: string;
  trigger: ReloadTrigger;
  /** Why the file was refused (file, key, reason); the previous configuration keeps serving. */
  error?: string;
  backends?: { added: string[]; removed: string[]; restarted: string[]; updated: string[]; unchanged: number };
  /** Keys that changed but wait for a restart of the gateway; the rest of the file is applied. */
  needs_restart?: string[];
}
