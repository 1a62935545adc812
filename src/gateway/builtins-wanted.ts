import type { BuiltinBackend } from '../builtins/builtin-backend.js';
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
