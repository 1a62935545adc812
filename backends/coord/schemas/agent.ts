import { z } from 'zod';
import { agentId, channel } from './fields.js';
import { leaseEpoch } from './task.js';

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

/** mux_deregister (POST /agent/deregister): the agent alone. */
export const AgentRefSchema = z.strictObject({ agent_id: agentId });
export type AgentRef = z.infer<typeof AgentRefSchema>;

/** mux_heartbeat, POST /agent/heartbeat: the agent, and optionally the task whose lease it renews (as mux_task_renew). */
export const HeartbeatInputSchema = z
  .strictObject({
    agent_id: agentId,
    task_id: z.string().optional().describe('A task you hold: its lease is renewed too (as mux_task_renew). Needs epoch.'),
    epoch: leaseEpoch.optional(),
  })
  .superRefine((input, ctx) => {
    if (input.task_id !== undefined && input.epoch === undefined)
      ctx.addIssue({ code: 'custom', path: ['epoch'], message: 'required with task_id (lease.epoch from mux_task_claim)' });
    if (input.task_id === undefined && input.epoch !== undefined)
      ctx.addIssue({ code: 'custom', path: ['task_id'], message: 'required with epoch (the task whose lease to renew)' });
  });
export type HeartbeatInput = z.infer<typeof HeartbeatInputSchema>;

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

/** What an agent says it is doing: working, idle (the state of an agent that never said), waiting for something, or blocked. */
export const AgentStateSchema = z.enum(['working', 'idle', 'waiting', 'blocked']);
export type AgentState = z.infer<typeof AgentStateSchema>;

const note = (what: string): z.ZodOptional<z.ZodNullable<z.ZodString>> => z.string().nullable().optional().describe(what);

/** mux_agent_state, POST /agent/state. */
export const SetAgentStateInputSchema = z
  .strictObject({
    agent_id: agentId,
    state: AgentStateSchema.describe('working, idle, waiting (say for what in waiting_for) or blocked.'),
    waiting_for: note('What you wait for or are blocked on, e.g. "review of PR 12" or "bob". Required with state "waiting".'),
    current_file: note('The file you are editing now (shown in status; counts as recently edited for claim scoring for 60 s). null clears it.'),
    current_thread: note('The consultation thread you are in now. null clears it.'),
  })
  .superRefine((input, ctx) => {
    if (input.state === 'waiting' && (input.waiting_for === undefined || input.waiting_for === null))
      ctx.addIssue({ code: 'custom', path: ['waiting_for'], message: 'required with state "waiting" (what you wait for)' });
  });
export type SetAgentStateInput = z.infer<typeof SetAgentStateInputSchema>;

/** mux_wait_for_peers, GET /agent/wait: the peers (named, or a group) and the state they should reach. */
export const WaitForPeersInputSchema = z
  .strictObject({
    agent_id: agentId.optional().describe('You (left out of a group wait).'),
    agents: z.array(z.string()).min(1).max(200).optional().describe('The peers to wait for, by agent id. Give agents or group.'),
    group: z.string().optional().describe('Wait for every agent of this group (you excluded). Give agents or group.'),
    state: AgentStateSchema.describe('The state every peer must be in.'),
    timeout: z.number().min(0).optional().describe('Seconds to wait at most (default 30; capped by the server).'),
    channel,
  })
  .superRefine((input, ctx) => {
    if ((input.agents === undefined) === (input.group === undefined))
      ctx.addIssue({ code: 'custom', path: ['agents'], message: 'give either agents or group, not both or neither' });
  });
export type WaitForPeersInput = z.infer<typeof WaitForPeersInputSchema>;

/** mux_groups, GET /agent/groups. */
export const GroupsQuerySchema = z.strictObject({
  channel,
  include_stale: z.boolean().optional().describe('Also count stale agents. Default false.'),
});
export type GroupsQuery = z.infer<typeof GroupsQuerySchema>;
