import { z } from 'zod';

/**
 * The input of a routed call, one schema for every surface: POST /call and
 * POST /call/async check their body with it, and gate_call and
 * gate_call_async list its JSON Schema (gate-inputs.ts). Strict: a mistyped
 * 'arguments' is refused, not dropped (a typo would call the tool with {}).
 */
export const CallInputSchema = z.strictObject({
  server: z.string().min(1).describe('Backend name, as gate_discover or gate_status show it.'),
  tool: z.string().min(1).describe("The tool's name on its backend (not the prefixed name)."),
  arguments: z.record(z.string(), z.unknown()).optional().describe("The tool's arguments, matching its inputSchema."),
});
export type CallInput = z.infer<typeof CallInputSchema>;
