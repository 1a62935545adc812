import type { Context } from 'hono';
import { ZodObject, type z } from 'zod';
import { unknownKeysSentence } from '../config/did-you-mean.js';
import { GatewayError } from '../errors.js';

/** Reads a JSON body and validates it; BAD_REQUEST names the field that is wrong. */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await c.req.text();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('BAD_REQUEST', `Could not read the request body: ${(err as Error).message}`);
  }
  return parseBody(text, schema);
}

/** A JSON body's text, parsed and validated (readBody's checks, for the hot path too — hot-routes.ts). */
export function parseBody<S extends z.ZodType>(text: string, schema: S): z.infer<S> {
  let value: unknown;
  try {
    value = text.length === 0 ? undefined : JSON.parse(text);
  } catch (err) {
    throw new GatewayError('BAD_REQUEST', `The request body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === undefined) throw new GatewayError('BAD_REQUEST', 'The request needs a JSON body');
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    // A key the route does not take is refused with its nearest known key,
    // in the words the gate tools use for the same mistake.
    if (issue?.code === 'unrecognized_keys' && issue.path.length === 0 && schema instanceof ZodObject) {
      throw new GatewayError('BAD_REQUEST', unknownKeysSentence(issue.keys, Object.keys(schema.shape), 'the request body'));
    }
    const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
    throw new GatewayError('BAD_REQUEST', `Invalid request body: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/** Parses an optional positive integer query parameter. */
export function intParam(c: Context, name: string, fallback: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new GatewayError('BAD_REQUEST', `Query parameter '${name}' must be a positive integer, got '${raw}'`);
  return Math.min(n, max);
}

/**
 * The deepest nesting of arrays and objects in a JSON text, skipping
 * strings; stops counting once past `max`. Linear and allocation-free, so it
 * can run before JSON.parse on a body of any allowed size.
 */
export function jsonDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i += 1;
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) {
      inString = true;
    } else if (ch === 0x7b || ch === 0x5b) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > max) return deepest;
      }
    } else if (ch === 0x7d || ch === 0x5d) {
      depth -= 1;
    }
  }
  return deepest;
}
