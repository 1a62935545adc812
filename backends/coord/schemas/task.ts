import { z } from 'zod';
import { agentId, channel, limit } from './fields.js';

/* Inputs of the task operations: mux_task_post, mux_task_claim, mux_task_renew, mux_task_complete, mux_task_list and their /task/* routes. */

/**
 * Any JSON object, kept as sent. Not z.record: a record is rebuilt key by key,
 * and assigning a `__proto__` key sets the copy's prototype instead, so the
 * key vanished without a word. This checks the object and keeps it; stored as
 * JSON, `__proto__` is an ordinary key (docs/coordination.md).
 */
const jsonObject = z
  .unknown()
  .refine((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'Invalid input: expected a JSON object')
  .meta({ type: 'object', additionalProperties: {} });

/** Where a task is in its life. */
export const TaskStatusSchema = z.enum(['pending', 'claimed', 'complete', 'failed']);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

/** mux_task_post, POST /task/post. */
export const PostTaskInputSchema = z.strictObject({
  description: z.string().describe('What needs doing, specific enough for another agent to do it.'),
  posted_by: z.string().describe('Your agent id, registered in the channel you post in.'),
  required_capability: z.string().nullable().optional().describe('Capability a claimer must have, e.g. "content-creation".'),
  priority: z.number().int().optional().describe('Higher is more urgent. Default 0.'),
  channel,
  metadata: jsonObject.optional().describe('Any JSON object the claimer needs (inputs, deadline, format).'),
});
export type PostTaskInput = z.infer<typeof PostTaskInputSchema>;

/** mux_task_claim, POST /task/claim. */
export const ClaimTaskInputSchema = z.strictObject({ agent_id: agentId, channel });
export type ClaimTaskInput = z.infer<typeof ClaimTaskInputSchema>;

/** The lease epoch a renewal presents: required, so a renewal can never extend a lease someone else now holds. */
export const leaseEpoch = z.number().int().min(0).describe('lease.epoch from your mux_task_claim.');

/** mux_task_renew, POST /task/renew: the claimer extends its lease by task_claim_timeout from now. */
export const RenewTaskInputSchema = z.strictObject({
  task_id: z.string().describe('The task id from mux_task_claim.'),
  agent_id: agentId,
  epoch: leaseEpoch,
});
export type RenewTaskInput = z.infer<typeof RenewTaskInputSchema>;

/** mux_task_complete, POST /task/complete. */
export const CompleteTaskInputSchema = z.strictObject({
  task_id: z.string().describe('The task id from mux_task_claim.'),
  agent_id: agentId,
  result: z.string().optional().describe('Result or summary (for "failed": the reason).'),
  status: z.enum(['complete', 'failed']).optional().describe('Default "complete".'),
  epoch: z.number().int().min(0).optional().describe('lease.epoch from your claim; protects against completing a task someone else now holds.'),
});
export type CompleteTaskInput = z.infer<typeof CompleteTaskInputSchema>;

/** mux_task_list, GET /task/list. */
export const TaskListQuerySchema = z.strictObject({
  status: TaskStatusSchema.optional().describe('Only tasks in this state.'),
  channel,
  claimed_by: z.string().optional().describe('Only tasks claimed by this agent.'),
  limit: limit(100),
});
export type TaskListQuery = z.infer<typeof TaskListQuerySchema>;
