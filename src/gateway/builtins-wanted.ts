import type { BuiltinBackend } from '../builtins/builtin-backend.js';
import { BUILTINS } from '../builtins/registry.js';
import type { Config } from '../config/schema.js';

/** A built-in's [section] of the config (with `enabled`); {} for a built-in without one. */
export function sectionOf(config: Config, builtin: BuiltinBackend): Record<string, unknown> {
  if (builtin.section === undefined) return {};
  return (config as unknown as Record<string, Record<string, unknown>>)[builtin.section] ?? {};
}

/**
 * Whether a built-in is mounted: its [section] says enabled, or, for one
 * without a section, a [[backends]] entry names it with transport "builtin".
 */
export function wanted(config: Config, builtin: BuiltinBackend): boolean {
  if (builtin.section === undefined) return config.backends.some((b) => b.name === builtin.name && b.transport === 'builtin');
  return sectionOf(config, builtin).enabled === true;
}

/**
 * [speed] Imports what the built-ins a config mounts need (BuiltinBackend.load); await it before
 * `new Gateway(config)`. The others stay unloaded: a gateway without [coordination] does not import coord.
 */
export async function loadBuiltins(config: Config): Promise<void> {
  await Promise.all(BUILTINS.filter((b) => wanted(config, b)).map((b) => b.load?.()));
}
