import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { CoordOptionsSchema } from '../builtins/coord.js';
import { didYouMean } from '../config/did-you-mean.js';
import { ConfigError } from '../config/load.js';

/*
 * `stonegate coord -c FILE` with the seed's own config file
 * (stonemux-reference.txt, "4. Configuration"): its [server], [license],
 * [coordination], [events] and [logging] tables. A file with [events] or
 * [license] and only the seed's tables is read as the seed's; every key that
 * maps is translated (and the translation logged), anything else is refused
 * naming the key to use. Any other file is a stonegate.toml.
 */

const SEED_TABLES = ['server', 'license', 'coordination', 'events', 'logging'] as const;
const SEED_ONLY = ['events', 'license'];
const COORD_SHAPE: Readonly<Record<string, z.ZodType>> = CoordOptionsSchema.unwrap().shape;
const COORD_KEYS: readonly string[] = Object.keys(COORD_SHAPE);
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** What a seed config file means for `stonegate coord`. */
export interface SeedConfig {
  host?: string;
  port?: string;
  /** The SQLite file: [server] data_dir/coord.db. */
  db?: string;
  logLevel?: string;
  /** [coordination] options (with [events] folded in), as --opt pairs. */
  opts: string[];
  /** One sentence per translated or ignored key, for the log. */
  translations: string[];
}

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The parsed TOML of `file` when it is a seed-style config, else undefined (a stonegate.toml, or unreadable: loadConfig says why). */
export function readSeedConfig(file: string): Table | undefined {
  let parsed: Table;
  try {
    parsed = parseToml(readFileSync(file, 'utf8')) as Table;
  } catch {
    return undefined;
  }
  const tables = Object.keys(parsed);
  const seedOnly = tables.some((t) => SEED_ONLY.includes(t));
  const allSeed = tables.every((t) => (SEED_TABLES as readonly string[]).includes(t));
  return seedOnly && allSeed ? parsed : undefined;
}

function expandHome(path: string, base: string): string {
  const expanded = path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
  return isAbsolute(expanded) ? expanded : resolve(base, expanded);
}

/** Translates a seed-style config (readSeedConfig) into `stonegate coord`'s flags; a ConfigError names a key that does not map and what to use. */
export function translateSeedConfig(file: string, seed: Table): SeedConfig {
  const out: SeedConfig = { opts: [], translations: [] };
  const refuse = (key: string, why: string): never => {
    throw new ConfigError(`${file}: ${key}: ${why}`);
  };
  const table = (name: string): Table => {
    const value = seed[name] ?? {};
    if (!isTable(value)) refuse(name, `[${name}] must be a table`);
    return value as Table;
  };

  for (const [key, value] of Object.entries(table('server'))) {
    if (key === 'host' && typeof value === 'string') out.host = value;
    else if (key === 'port' && typeof value === 'number') out.port = String(value);
    else if (key === 'data_dir' && typeof value === 'string') out.db = join(expandHome(value, dirname(resolve(file))), 'coord.db');
    else if (key === 'host' || key === 'port' || key === 'data_dir') refuse(`server.${key}`, `must be a ${key === 'port' ? 'number' : 'string'}`);
    else refuse(`server.${key}`, `unknown key${didYouMean(key, ['host', 'port', 'data_dir'])}; [server] takes host, port and data_dir`);
  }
  if (out.host !== undefined) out.translations.push(`[server] host → --host ${out.host}`);
  if (out.port !== undefined) out.translations.push(`[server] port → --port ${out.port}`);
  if (out.db !== undefined) out.translations.push(`[server] data_dir → --db ${out.db}`);
  if (seed.license !== undefined) out.translations.push('[license] ignored: stonegate needs no license key, every feature is on');

  // [coordination] as it is; [events] holds [coordination] keys in stonegate.
  for (const name of ['coordination', 'events']) {
    for (const [key, value] of Object.entries(table(name))) {
      if (!COORD_KEYS.includes(key)) {
        refuse(`${name}.${key}`, `unknown key${didYouMean(key, COORD_KEYS)}; the [coordination] keys are ${COORD_KEYS.join(', ')}`);
      }
      const checked = (COORD_SHAPE[key] as z.ZodType).safeParse(value);
      if (!checked.success) refuse(`${name}.${key}`, checked.error.issues.map((issue) => issue.message).join('; '));
      out.opts.push(`${key}=${JSON.stringify(value)}`);
      if (name === 'events') out.translations.push(`[events] ${key} → [coordination] ${key}`);
    }
  }

  for (const [key, value] of Object.entries(table('logging'))) {
    if (key === 'level' && typeof value === 'string' && LOG_LEVELS.includes(value)) out.logLevel = value;
    else if (key === 'format' && value === 'json') continue;
    else if (key === 'format' && value === 'pretty')
      out.translations.push('[logging] format = "pretty": stonegate coord logs JSON lines; pipe them through pino-pretty');
    else if (key === 'level') refuse('logging.level', `must be one of ${LOG_LEVELS.join(', ')}`);
    else if (key === 'format') refuse('logging.format', 'must be "json" or "pretty"');
    else refuse(`logging.${key}`, `unknown key${didYouMean(key, ['level', 'format'])}; [logging] takes level and format`);
  }
  return out;
}
