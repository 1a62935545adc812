import type { Context } from 'hono';
import { z } from 'zod';
import { CoordError } from './errors.js';

/*
 * The arguments of a coordination REST route, before its operation checks
 * them with its schema (operation.ts): the JSON body, or the query string
 * with numbers and booleans read as such.
 */

/** The JSON body; BAD_REQUEST when it is not JSON. */
export async function jsonArgs(c: Context): Promise<unknown> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new CoordError('BAD_REQUEST', 'Request body is not valid JSON; send a JSON object with Content-Type: application/json.');
  }
  return raw;
}

const BOOLEAN_TEXT: Readonly<Record<string, boolean>> = { true: true, false: false, 1: true, 0: false };

/** The kind of value a field takes under optional/nullable. */
function baseType(field: z.ZodType | undefined): string | undefined {
  let inner = field;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) inner = inner.unwrap() as z.ZodType;
  return inner?.def.type;
}

/** A number as JSON writes one: `-1`, `1.5`, `2e3`. */
const NUMBER_TEXT = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * A query-string value as the field's type: a number field reads a number
 * as JSON writes it (so `timeout=-1` is refused as too small, as over MCP,
 * not as text), a boolean field true/false/1/0. Anything else stays text,
 * so the schema names the field that is wrong.
 */
function fromText(field: z.ZodType | undefined, text: string): unknown {
  const type = baseType(field);
  if (type === 'number' && NUMBER_TEXT.test(text)) return Number(text);
  if (type === 'boolean' && Object.hasOwn(BOOLEAN_TEXT, text)) return BOOLEAN_TEXT[text];
  return text;
}

/** The query string, each value as the type of its field in `schema` where it reads as one. */
export function queryArgs(c: Context, schema: z.ZodObject): Record<string, unknown> {
  const shape = schema.shape as Record<string, z.ZodType>;
  const typed: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(c.req.query())) typed[key] = fromText(shape[key], text);
  return typed;
}
