import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { parseInput } from './parse-input.js';
import type { CoordLogger } from './store.js';
import { runTool } from './tool-result.js';

/** What a tool body gets besides its input: the request's abort signal. */
export interface ToolCall {
  signal: AbortSignal;
}

/** A coordination tool: its MCP metadata and the schema of its input (schemas/*.ts). */
export interface CoordToolSpec<S extends z.ZodObject> {
  title: string;
  description: string;
  annotations: ToolAnnotations;
  input: S;
}

/*
 * The SDK checks arguments against the schema it is given and answers its
 * own "Input validation error" text, without a code. It gets a copy of the
 * schema that lets unknown fields through (and lists the same JSON Schema,
 * without additionalProperties), so parseInput refuses them as REST does:
 * BAD_REQUEST and one sentence. Publishing additionalProperties: false would
 * let the gateway's argument check answer first, with another code.
 */
function lenient(schema: z.ZodObject): z.ZodObject {
  return z.looseObject(schema.shape).meta({ additionalProperties: undefined });
}

/** Registers one coordination tool whose input is checked by `spec.input`. */
export function registerCoordTool<S extends z.ZodObject>(
  server: McpServer,
  logger: CoordLogger | undefined,
  name: string,
  spec: CoordToolSpec<S>,
  body: (input: z.infer<S>, call: ToolCall) => Promise<object>,
): void {
  const { input, ...config } = spec;
  const callback = (args: unknown, extra: ToolCall): Promise<CallToolResult> => runTool(name, logger, () => body(parseInput(input, args), extra));
  server.registerTool(name, { ...config, inputSchema: lenient(input) }, callback);
}
