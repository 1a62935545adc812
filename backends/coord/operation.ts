import type { ToolAnnotations } from '@modelcontextprotocol/server';
import type { z } from 'zod';
import type { CoordOptions } from './options.js';
import { parseInput } from './parse-input.js';
import type { CoordStore } from './store.js';

/*
 * A coordination operation, declared once: its input schema (schemas/*.ts),
 * its MCP tool (name, title, description for models, annotations) and its
 * REST route under /coord, and what it does with the store. server.ts
 * registers every operation as a tool, rest.ts as a route; both hand the
 * raw arguments to `run`, which checks them with the schema (parseInput),
 * so the two surfaces cannot accept different inputs. A new operation is
 * one entry in its area's *-tools.ts (plus its schema and the store method).
 */

/** What an operation runs with besides its input. */
export interface OperationCall {
  store: CoordStore;
  /** Aborts when the caller goes away (long polls must then not move cursors). */
  signal: AbortSignal;
  /** The longest a long poll may wait on this surface, in seconds (MCP: mcpWaitCap); unset: poll_timeout_max alone caps it. */
  waitCap?: number;
}

/** What a long poll waits when it gives no `timeout`, in seconds (as validate.ts pollTimeoutMs). */
const DEFAULT_WAIT = 30;

/** The longest a long poll waits over MCP, in seconds: mcp_poll_timeout_max, within poll_timeout_max. */
export function mcpWaitCap(options: CoordOptions): number {
  return Math.min(options.mcp_poll_timeout_max, options.poll_timeout_max);
}

/** A long poll's `timeout` (seconds) as the store takes it (milliseconds), cut to the surface's cap. */
export function waitMs(timeout: number | undefined, call: OperationCall): number | undefined {
  if (call.waitCap === undefined) return timeout === undefined ? undefined : timeout * 1000;
  return Math.min(timeout ?? DEFAULT_WAIT, call.waitCap) * 1000;
}

/** An operation as its area declares it, typed by its schema. */
export interface OperationSpec<S extends z.ZodObject> {
  /** The MCP tool name. */
  name: string;
  /** The REST route under /coord: GET reads the query string, POST a JSON body. */
  route: `${'GET' | 'POST'} /${string}`;
  title: string;
  description: string;
  annotations: ToolAnnotations;
  input: S;
  run: (input: z.infer<S>, call: OperationCall) => Promise<object>;
}

/** An operation as the surfaces use it: `run` takes the raw arguments and checks them first. */
export interface CoordOperation extends Omit<OperationSpec<z.ZodObject>, 'run'> {
  run: (args: unknown, call: OperationCall) => Promise<object>;
}

/** Declares an operation; its arguments are checked by `spec.input` before `spec.run`. */
export function operation<S extends z.ZodObject>(spec: OperationSpec<S>): CoordOperation {
  return { ...spec, run: (args, call) => spec.run(parseInput(spec.input, args), call) };
}
