import { z } from 'zod';
import { agentId, channel, limit, repo, threadId } from './fields.js';

/* Inputs of the consultation-thread operations: mux_thread_* and their /thread/* routes. */

/** open → proposed (a proposal) → resolved (everyone approved, or the timeout passed) → closed; contest goes back to open; cancel ends any. */
export const ThreadStatusSchema = z.enum(['open', 'proposed', 'resolved', 'closed', 'cancelled']);
export type ThreadStatus = z.infer<typeof ThreadStatusSchema>;

/** What a thread message is; a proposal puts a resolution on the table. */
export const ThreadPostKindSchema = z.enum(['context', 'warning', 'question', 'proposal']);
export type ThreadPostKind = z.infer<typeof ThreadPostKindSchema>;

/** mux_thread_open, POST /thread/open. */
export const OpenThreadInputSchema = z.strictObject({
  agent_id: agentId,
  participants: z.array(z.string()).describe('The agents to consult (you are added).'),
  subject: z.string().describe('What needs agreeing, in one sentence.'),
  paths: z.array(z.string()).optional().describe('The files the discussion is about.'),
  claim_ids: z.array(z.string()).optional().describe('Claims the discussion is about.'),
  channel,
  repo,
});
export type OpenThreadInput = z.infer<typeof OpenThreadInputSchema>;

/** mux_thread_post, POST /thread/post. */
export const ThreadPostInputSchema = z.strictObject({
  thread_id: threadId,
  agent_id: agentId,
  kind: ThreadPostKindSchema.optional().describe('Default "context".'),
  content: z.string().describe('The message.'),
});

/** mux_thread_approve, POST /thread/approve. */
export const ThreadApproveInputSchema = z.strictObject({
  thread_id: threadId,
  agent_id: agentId,
  content: z.string().optional().describe('Optional comment.'),
});

/** mux_thread_contest, POST /thread/contest. */
export const ThreadContestInputSchema = z.strictObject({
  thread_id: threadId,
  agent_id: agentId,
  content: z.string().describe('Why, and what would work for you.'),
});

/** mux_thread_close, POST /thread/close (cancel: true cancels). */
export const ThreadCloseInputSchema = z.strictObject({
  thread_id: threadId,
  agent_id: agentId,
  cancel: z.boolean().optional().describe('Cancel instead of close. Default false.'),
  content: z.string().optional().describe('Optional closing note.'),
});

/** mux_thread_get, GET /thread/get. */
export const GetThreadInputSchema = z.strictObject({
  thread_id: threadId,
  agent_id: agentId,
  after: z.number().int().min(0).optional().describe('Only messages with a larger id.'),
});
export type GetThreadInput = z.infer<typeof GetThreadInputSchema>;

/** mux_thread_list, GET /thread/list. */
export const ThreadListQuerySchema = z.strictObject({
  agent_id: z
    .string()
    .optional()
    .describe('You: only the threads you take part in (every thread for a claim admin). Required with an agent token on the gateway.'),
  status: ThreadStatusSchema.optional(),
  channel,
  repo,
  limit: limit(100),
});
export type ThreadListQuery = z.infer<typeof ThreadListQuerySchema>;

/** mux_thread_updates, GET /thread/updates. */
export const ThreadUpdatesInputSchema = z.strictObject({
  agent_id: agentId,
  after: z.number().int().min(0).optional().describe('next_after of your previous call. Default 0.'),
  channel: z.string().optional().describe('Only threads of this channel. Default: all channels.'),
  limit: limit(100, 'messages'),
});
export type ThreadUpdatesInput = z.infer<typeof ThreadUpdatesInputSchema>;
