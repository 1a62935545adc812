import { z } from 'zod';
import { agentId, channel, limit } from './fields.js';

/* Inputs of the message operations: mux_send, mux_broadcast, mux_poll, mux_history and their /msg/* routes. */

/** mux_send, POST /msg/send. */
export const SendInputSchema = z.strictObject({
  from: z.string().describe('Your agent id (the sender).'),
  to: z.string().describe('Recipient agent id.'),
  content: z.string().describe('Message text.'),
  channel,
});
export type SendInput = z.infer<typeof SendInputSchema>;

/** How much a broadcast matters; shown on the message, its event and the sender's answer. */
export const BroadcastPrioritySchema = z.enum(['low', 'normal', 'high', 'urgent']);
export type BroadcastPriority = z.infer<typeof BroadcastPrioritySchema>;

/** mux_broadcast, POST /msg/broadcast. */
export const BroadcastInputSchema = z.strictObject({
  from: z.string().describe('Your agent id (the sender; it does not receive its own broadcast).'),
  content: z.string().describe('Message text.'),
  group: z.string().optional().describe('Only agents in this group. Default: everyone in the channel.'),
  priority: BroadcastPrioritySchema.optional().describe('low, normal (default), high or urgent: recipients see it on the message and read urgent ones first.'),
  channel,
});
export type BroadcastInput = z.infer<typeof BroadcastInputSchema>;

/** mux_poll, GET /msg/poll: `timeout` in seconds (the store takes PollInput, in ms). */
export const PollArgsSchema = z.strictObject({
  agent_id: agentId,
  channel,
  timeout: z.number().min(0).optional().describe('Seconds to wait for a first message. Default 30; 0 returns at once.'),
  after: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('Acknowledge messages up to this id and return the ones after it (the next_cursor of your previous poll).'),
  limit: limit(100, 'messages'),
});
export type PollArgs = z.infer<typeof PollArgsSchema>;

/** mux_history, GET /msg/history. */
export const HistoryQuerySchema = z.strictObject({
  channel,
  agent_id: z
    .string()
    .optional()
    .describe('Read as this agent (your agent id): only what it sent or received; with with_agent, one side of a direct conversation.'),
  with_agent: z.string().optional().describe('The other side of the conversation (needs agent_id).'),
  group: z.string().optional().describe('Broadcasts to this group.'),
  limit: limit(50, 'messages'),
  before: z.number().int().min(0).optional().describe('Only messages with a smaller id.'),
});
export type HistoryQuery = z.infer<typeof HistoryQuerySchema>;
