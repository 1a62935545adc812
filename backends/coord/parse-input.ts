import type { z } from 'zod';
import { CoordError } from './errors.js';

/*
 * The one check of an operation's input against its schema (schemas/*.ts).
 * Every surface reaches it: the REST routes, and the MCP tools on the
 * standalone server and behind the gateway (server.ts keeps the SDK's own
 * check out of the way, and the gateway leaves coord's arguments to coord),
 * so the same mistake gets the same code, sentence and field everywhere.
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

/** How a sentence names a field: `'paths'`, `'paths[0]'`, `'metadata.deadline'`. */
function fieldName(path: readonly PropertyKey[]): string {
  let name = '';
  for (const key of path) name += typeof key === 'number' ? `[${key}]` : `${name === '' ? '' : '.'}${String(key)}`;
  return `'${name}'`;
}

/** zod's expected type, as the sentence says it. */
const EXPECTED: Readonly<Record<string, string>> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a JSON object',
  record: 'a JSON object',
};

/** The value a caller sent, as the sentence names it. */
function shown(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the text '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a JSON object';
  return String(value);
}

/** One issue as a clause of the sentence. */
function clause(issue: z.core.$ZodIssue, fields: readonly string[], input: unknown, nullable: boolean): string {
  const where = issue.path.length > 0 ? fieldName(issue.path) : 'the request';
  const value = valueAt(input, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')} (the fields are ${fields.length === 0 ? 'none' : fields.join(', ')})`;
    case 'invalid_type': {
      // zod 4 issues do not carry the input: a field is missing when the input has nothing at its path.
      if (value === undefined) return `${where} is required`;
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return `${where} must be ${expected}${nullable ? ' or null' : ''}, not ${shown(value)}`;
    }
    case 'invalid_value':
      return `${where} must be one of ${issue.values.map((v) => `'${String(v)}'`).join(', ')}, not ${shown(value)}`;
    case 'too_small':
    case 'too_big': {
      const bound = String(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const open = issue.inclusive === false;
      const side = issue.code === 'too_small' ? (open ? 'more than' : 'at least') : open ? 'less than' : 'at most';
      if (issue.origin === 'number' || issue.origin === 'int') return `${where} must be ${side} ${bound}, not ${shown(value)}`;
      if (issue.origin === 'array') return `${where} must have ${side} ${bound} entries`;
      if (issue.origin === 'string') return `${where} must have ${side} ${bound} characters`;
      return `${where}: ${issue.message}`;
    }
    default:
      return `${where}: ${issue.message}`;
  }
}

/** The one top-level field all issues are about, if they are about one. */
function blamed(issues: readonly z.core.$ZodIssue[]): string | undefined {
  const names = new Set<string>();
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) names.add(key);
    else if (issue.path.length > 0) names.add(String(issue.path[0]));
    else return undefined;
  }
  return names.size === 1 ? [...names][0] : undefined;
}

/** One sentence naming every bad field; the same on every surface. */
export function inputErrorSentence(error: z.ZodError, schema: z.ZodObject, input: unknown): string {
  const shape = schema.shape as Record<string, z.ZodType>;
  const parts = error.issues.map((issue) => {
    const top = issue.path.length === 1 ? shape[String(issue.path[0])] : undefined;
    return clause(issue, Object.keys(shape), input, top?.safeParse(null).success === true);
  });
  return `Invalid request: ${parts.join('; ')}.`;
}

/** `value` checked by `schema`; BAD_REQUEST naming every bad field (and `field` when one is to blame) otherwise. */
export function parseInput<S extends z.ZodObject>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const field = blamed(result.error.issues);
  throw new CoordError('BAD_REQUEST', inputErrorSentence(result.error, schema, value), field === undefined ? undefined : { field });
}
