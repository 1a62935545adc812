import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { fields, type ToolContext } from './agent-tools.js';
import { claimFields } from './claim-tools.js';
import { runTool } from './tool-result.js';

const local = { openWorldHint: false } as const;
const statuses = ['open', 'proposed', 'resolved', 'closed', 'cancelled'] as const;
const kinds = ['context', 'warning', 'question', 'proposal'] as const;

/** Registers the mux_thread_* tools. */
export function registerThreadTools(server: McpServer, { store, options, logger }: ToolContext): void {
  const lifecycle =
    `A thread is open, then proposed (a proposal is on the table), then resolved (every participant approved, or ${options.thread_timeout} s passed without activity), then closed; ` +
    'contest sends it back to open; cancel ends it. Every participant gets each action in their inbox.';

  server.registerTool(
    'mux_thread_open',
    {
      title: 'Open a consultation thread',
      description:
        'Start a discussion with other agents about work that overlaps (conflicts of 90+ open one by themselves on mux_claim_announce). ' +
        `${lifecycle} Returns the thread.`,
      inputSchema: {
        agent_id: fields.agentId,
        participants: z.array(z.string()).describe('The agents to consult (you are added).'),
        subject: z.string().describe('What needs agreeing, in one sentence.'),
        paths: z.array(z.string()).optional().describe('The files the discussion is about.'),
        claim_ids: z.array(z.string()).optional().describe('Claims the discussion is about.'),
        channel: fields.channel,
        repo: claimFields.repo,
      },
      annotations: local,
    },
    (args) => runTool('mux_thread_open', logger, () => store.openThread(args)),
  );

  server.registerTool(
    'mux_thread_post',
    {
      title: 'Post to a thread',
      description:
        'Add to a consultation thread you take part in: kind "context" (what you are doing), "warning" (what would break), "question", or "proposal" ' +
        '(a resolution, e.g. "I take session.ts, you take the tests"; it puts the thread in "proposed" and counts as your approval). Returns {thread, messages: [your message]}.',
      inputSchema: {
        thread_id: claimFields.threadId,
        agent_id: fields.agentId,
        kind: z.enum(kinds).optional().describe('Default "context".'),
        content: z.string().describe('The message.'),
      },
      annotations: local,
    },
    ({ kind, ...rest }) => runTool('mux_thread_post', logger, () => store.actOnThread({ ...rest, action: 'post', kind })),
  );

  server.registerTool(
    'mux_thread_approve',
    {
      title: 'Approve the proposal',
      description: 'Agree to the proposal on the table. When every participant has approved, the thread is resolved with that proposal as its resolution. Returns {thread, messages}.',
      inputSchema: { thread_id: claimFields.threadId, agent_id: fields.agentId, content: z.string().optional().describe('Optional comment.') },
      annotations: local,
    },
    (args) => runTool('mux_thread_approve', logger, () => store.actOnThread({ ...args, action: 'approve' })),
  );

  server.registerTool(
    'mux_thread_contest',
    {
      title: 'Contest the proposal',
      description: 'Reject the proposal (or a resolution) with a reason: the thread goes back to open and the approvals are dropped; propose something else next. Returns {thread, messages}.',
      inputSchema: { thread_id: claimFields.threadId, agent_id: fields.agentId, content: z.string().describe('Why, and what would work for you.') },
      annotations: local,
    },
    (args) => runTool('mux_thread_contest', logger, () => store.actOnThread({ ...args, action: 'contest' })),
  );

  server.registerTool(
    'mux_thread_close',
    {
      title: 'Close or cancel a thread',
      description:
        'End a thread: close it once the agreed work is done, or with cancel: true when the work was abandoned or the thread is no longer relevant. Nothing can be posted after. Returns {thread, messages}.',
      inputSchema: {
        thread_id: claimFields.threadId,
        agent_id: fields.agentId,
        cancel: z.boolean().optional().describe('Cancel instead of close. Default false.'),
        content: z.string().optional().describe('Optional closing note.'),
      },
      annotations: local,
    },
    ({ cancel, ...rest }) => runTool('mux_thread_close', logger, () => store.actOnThread({ ...rest, action: cancel === true ? 'cancel' : 'close' })),
  );

  server.registerTool(
    'mux_thread_get',
    {
      title: 'Read a thread',
      description: `A thread you take part in with its messages (oldest first); with after, only newer messages. ${lifecycle} Returns {thread, messages}.`,
      inputSchema: {
        thread_id: claimFields.threadId,
        agent_id: fields.agentId,
        after: z.number().int().min(0).optional().describe('Only messages with a larger id.'),
      },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_thread_get', logger, () => store.getThread(args)),
  );

  server.registerTool(
    'mux_thread_list',
    {
      title: 'List threads',
      description:
        'Threads of a channel that you may read, most recently active first; filter by status or repo. Returns {threads} (without messages; use mux_thread_get).',
      inputSchema: {
        agent_id: z.string().optional().describe('You: only the threads you take part in (every thread for a claim admin). Required with an agent token on the gateway.'),
        status: z.enum(statuses).optional(),
        channel: fields.channel,
        repo: claimFields.repo,
        limit: z.number().int().min(1).optional().describe('At most this many (default 100).'),
      },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_thread_list', logger, async () => ({ threads: await store.listThreads(args) })),
  );

  server.registerTool(
    'mux_thread_updates',
    {
      title: 'Thread updates since',
      description:
        'New messages in every thread you take part in since the message id you pass (0: all), with the current state of those threads. ' +
        'Pass the returned next_after on the next call. Returns {agent_id, messages, threads, next_after, has_more}.',
      inputSchema: {
        agent_id: fields.agentId,
        after: z.number().int().min(0).optional().describe('next_after of your previous call. Default 0.'),
        channel: z.string().optional().describe('Only threads of this channel. Default: all channels.'),
        limit: z.number().int().min(1).optional().describe('At most this many messages (default 100).'),
      },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_thread_updates', logger, () => store.threadUpdates(args)),
  );
}
