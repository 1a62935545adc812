import { z } from 'zod';
import { agentId, channel } from './fields.js';

/* Inputs of the agent operations: mux_register, mux_deregister, mux_heartbeat, mux_discover and their /agent/* routes. */

/** An agent is active until stale_threshold passes without a call from it. */
export const AgentStatusSchema = z.enum(['active', 'stale']);
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

/** mux_register, POST /agent/register. */
export const RegisterAgentInputSchema = z.strictObject({
  agent_id: agentId,
  role: z.string().describe('What you do, e.g. "research", "writing", "review". Others find you by it with mux_discover.'),
  capabilities: z
    .array(z.string())
    .optional()
    .describe('Skills for task matching: a task with required_capability "x" goes only to agents listing "x". E.g. ["web-search"]. Default none.'),
  group: z.string().nullable().optional().describe('Optional team name; mux_broadcast can target one group.'),
  channel,
  webhook_url: z
    .string()
    .nullable()
    .optional()
    .describe(
      'Optional http(s) URL that receives a small JSON POST ("doorbell", without the content) whenever a message arrives for you. Private addresses are refused unless the operator allows them.',
    ),
});
export type RegisterAgentInput = z.infer<typeof RegisterAgentInputSchema>;

/** mux_deregister and mux_heartbeat (POST /agent/deregister, /agent/heartbeat): the agent alone. */
export const AgentRefSchema = z.strictObject({ agent_id: agentId });
export type AgentRef = z.infer<typeof AgentRefSchema>;

/** mux_discover, GET /agent/discover. */
export const DiscoverQuerySchema = z.strictObject({
  role: z.string().optional().describe('Only agents with this role.'),
  group: z.string().optional().describe('Only agents in this group.'),
  capability: z.string().optional().describe('Only agents that list this capability.'),
  status: AgentStatusSchema.optional().describe('Only active or only stale agents.'),
  channel,
  include_stale: z.boolean().optional().describe('Also list stale agents. Default false.'),
});
export type DiscoverQuery = z.infer<typeof DiscoverQuerySchema>;
