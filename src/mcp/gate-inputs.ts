import type { Tool } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { CallInputSchema } from '../router/call-input.js';

/*
 * The input of each gate tool as one zod schema: the tool list shows its
 * JSON Schema (z.toJSONSchema) and a call's keys are checked against its
 * fields, so what is listed and what is accepted cannot drift apart.
 * gate_call and gate_call_async take the same input as POST /call.
 */

const callId = z.string().describe('The id gate_call_async returned.');

/** Each gate tool's input schema, by tool name. */
export const GATE_INPUTS = {
  gate_call: CallInputSchema,
  gate_discover: z.strictObject({
    query: z.string().optional().describe('Words describing the tool you need; empty lists every tool.'),
    server: z.string().optional().describe('Only tools of this backend.'),
    limit: z.number().int().min(1).max(100).optional().describe('Most results to return (default 10).'),
  }),
  gate_status: z.strictObject({ server: z.string().optional().describe('Only this backend.') }),
  gate_call_async: CallInputSchema,
  gate_poll: z.strictObject({ call_id: callId }),
  gate_await: z.strictObject({
    call_id: callId,
    timeout_ms: z.number().int().min(0).optional().describe('How long to wait at most, in milliseconds (default 30000).'),
  }),
  gate_cancel: z.strictObject({ call_id: callId }),
} as const satisfies Record<string, z.ZodObject>;

export type GateToolName = keyof typeof GATE_INPUTS;

/** The JSON Schema a tool list shows for `schema`: what the caller sends (io: input), without the dialect line. */
export function toolInputSchema(schema: z.ZodObject): Tool['inputSchema'] {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'input' });
  return json as Tool['inputSchema'];
}
