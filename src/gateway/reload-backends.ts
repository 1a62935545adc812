import type { BackendDiff } from '../config/reload-diff.js';
import type { BackendConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Router } from '../router/router.js';
import type { Roster } from '../supervisor/roster.js';
import type { Supervisor } from '../supervisor/supervisor.js';

/** What applying a backend diff touches. */
export interface BackendTarget {
  readonly supervisor: Supervisor;
  readonly router: Pick<Router, 'drop'>;
  /** The runtime roster (runtime adds, API stops); throws before the gateway has started. */
  readonly roster: Roster;
  readonly logger: Logger;
}

/**
 * Applies the file's backend diff (docs/configuration.md "Live
 * configuration"). Removed ones drain — no new calls; calls in flight get
 * their backend's drain_timeout — and stop, in parallel; changed ones
 * restart one at a time; timeout- or breaker-only changes are swapped into
 * the running backend; added ones start in parallel. Backends the file
 * never had (runtime adds) are left alone unless the file now names them.
 */
export async function applyBackends(target: BackendTarget, diff: BackendDiff): Promise<void> {
  const { supervisor, logger } = target;
  const ours = (name: string): boolean => supervisor.has(name) && supervisor.get(name).config.origin === 'file';
  await Promise.all(
    diff.removed.map((name) =>
      supervisor.serialize(name, async () => {
        if (ours(name)) await supervisor.remove(name);
      }),
    ),
  );
  for (const entry of diff.updated) {
    if (!ours(entry.name)) continue;
    const backend = supervisor.get(entry.name);
    const breakerChanged = JSON.stringify(backend.config.breaker) !== JSON.stringify(entry.breaker);
    // `enabled` stays as the API or the file left it: only timeouts and the breaker change here.
    backend.config = { ...entry, enabled: backend.config.enabled };
    // A new breaker (closed) with the new settings is made on the next call.
    if (breakerChanged) target.router.drop(entry.name);
  }
  for (const entry of diff.restarted) await replace(target, entry, 'restarted');
  await Promise.all(diff.added.map((entry) => replace(target, entry, 'added')));
  logger.debug({ removed: diff.removed.length, restarted: diff.restarted.length, added: diff.added.length }, 'backends reloaded');
}

/** Puts the file's entry in the place of whatever has the name (the file wins over a runtime add), and starts it. */
async function replace(target: BackendTarget, entry: BackendConfig, why: 'added' | 'restarted'): Promise<void> {
  const { supervisor, logger } = target;
  let roster: Roster | undefined;
  try {
    roster = target.roster;
  } catch {
    roster = undefined; // not started yet: no runtime changes to weigh
  }
  const existing = supervisor.has(entry.name) ? supervisor.get(entry.name).config.origin : undefined;
  if (existing === 'builtin') {
    logger.error({ backend: entry.name }, 'the reloaded file names a built-in backend; its entry is ignored (rename it)');
    return;
  }
  if (existing === 'runtime' && roster !== undefined) {
    logger.warn({ backend: entry.name }, 'the reloaded file defines a backend added at runtime: the file wins, the runtime entry is removed');
    await roster.remove(entry.name);
  }
  // An API stop or start holds until the file's entry for the backend changes.
  if (roster !== undefined && why === 'restarted' && supervisor.has(entry.name) && roster.enabled(entry.name) !== entry.enabled) {
    await roster.setEnabled(entry.name, entry.enabled);
  }
  const backend = await supervisor.serialize(entry.name, async () => {
    if (supervisor.has(entry.name)) await supervisor.remove(entry.name);
    return supervisor.add(entry);
  });
  logger.info({ backend: entry.name }, `backend ${why} by a config reload`);
  if (entry.enabled) await backend.start().catch(() => undefined);
}
