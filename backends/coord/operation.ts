import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
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
