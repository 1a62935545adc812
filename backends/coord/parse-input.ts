import type { z } from 'zod';
import { CoordError } from './errors.js';

/*
 * The one check of an operation's input against its schema (schemas/*.ts),
 * used by the MCP tools and the REST routes alike, so both refuse the same
 * mistake with the same code and sentence.
 */

/** What `input` holds at `path`, or undefined. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** One sentence naming every bad field; an unknown field is named with the fields the operation takes, the same on every surface. */
export function inputErrorSentence(error: z.ZodError, fields: readonly string[], input: unknown): string {
  const parts = error.issues.map((issue) => {
    const where = issue.path.length > 0 ? `'${issue.path.join('.')}'` : 'the request';
    if (issue.code === 'unrecognized_keys') {
      return `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')} (the fields are ${fields.length === 0 ? 'none' : fields.join(', ')})`;
    }
    // zod 4 issues do not carry the input: a field is missing when the input has nothing at its path.
    if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) return `${where} is required`;
    return `${where}: ${issue.message}`;
  });
  // Wrong types keep the pointer REST always gave ([coord-2] unifies those
  // sentences); over MCP the SDK answers wrong types before this check.
  const typeIssue = error.issues.some((issue) => issue.code !== 'unrecognized_keys');
  return `Invalid request: ${parts.join('; ')}.${typeIssue ? " See GET /coord/health for the server and docs/coordination.md for each route's fields." : ''}`;
}

/** `value` checked by `schema`; BAD_REQUEST naming every bad field otherwise. */
export function parseInput<S extends z.ZodObject>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new CoordError('BAD_REQUEST', inputErrorSentence(result.error, Object.keys(schema.shape), value));
}
