import type { z } from 'zod';
import { didYouMean } from '../../kit/did-you-mean.js';
import { CoordOptionsSchema } from './options.js';

/** The [coordination] keys, in schema order. */
export const COORD_OPTION_KEYS: readonly string[] = Object.keys(CoordOptionsSchema.unwrap().shape);

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string '${value}'`;
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * One sentence per problem of [coordination] options `raw` (as --opt or a
 * config file gave them), `where` naming their source ("--opt", a file):
 * an unknown key with the nearest known key and the list of keys, a wrong
 * type as a wrong type with what was given — never zod's JSON.
 */
export function optionsErrorSentence(error: z.ZodError, raw: Record<string, unknown>, where: string): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const named = issue.keys.map((key) => `'${key}'${didYouMean(key, COORD_OPTION_KEYS)}`).join(', ');
        return `${where}: unknown [coordination] key${issue.keys.length > 1 ? 's' : ''} ${named}; the keys are ${COORD_OPTION_KEYS.join(', ')}`;
      }
      const key = issue.path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join('');
      const top = issue.path[0];
      const given = typeof top === 'string' ? raw[top] : undefined;
      if (issue.code === 'invalid_type' && issue.path.length === 1) {
        return `${where}: '${key}' must be ${issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}, got ${describe(given)}`;
      }
      return `${where}: '${key}': ${issue.message}`;
    })
    .join('; ');
}
