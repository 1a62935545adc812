import type { Context } from 'hono';
import type { z } from 'zod';
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
