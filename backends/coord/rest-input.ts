import type { Context } from 'hono';
import { z } from 'zod';
import { CoordError } from './errors.js';

/* Request parsing shared by the coordination REST routes (rest.ts, claim-rest.ts). */

export const str = z.string();
export const opt = z.string().optional();
/** A query-string number: digits with an optional fraction. */
export const qnum = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'expected a non-negative number')
  .transform(Number);
export const qint = z
  .string()
  .regex(/^\d+$/, 'expected a whole number')
  .transform(Number);
export const qbool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** The JSON body parsed with `schema`; BAD_REQUEST when it is not JSON, a ZodError (→ onError) when it does not fit. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new CoordError('BAD_REQUEST', 'Request body is not valid JSON; send a JSON object with Content-Type: application/json.');
  }
  return schema.parse(raw);
}

/** The query string parsed with `schema`. */
export function query<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return schema.parse(c.req.query());
}
