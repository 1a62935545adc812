import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolContext } from './agent-tools.js';
import { registerCoordTool } from './register-tool.js';
import {
  GetThreadInputSchema,
  OpenThreadInputSchema,
  ThreadApproveInputSchema,
  ThreadCloseInputSchema,
  ThreadContestInputSchema,
  ThreadListQuerySchema,
  ThreadPostInputSchema,
  ThreadUpdatesInputSchema,
} from './schemas/thread.js';

const local = { openWorldHint: false } as const;

/** Registers the mux_thread_* tools. */
export function registerThreadTools(server: McpServer, { store, options, logger }: ToolContext): void {
  const lifecycle =
    `A thread is open, then proposed (a proposal is on the table), then resolved (every participant approved, or ${options.thread_timeout} s passed without activity), then closed; ` +
    'contest sends it back to open; cancel ends it. Every participant gets each action in their inbox.';

  registerCoordTool(
    server,
    logger,
    'mux_thread_open',
    {
      title: 'Open a consultation thread',
      description:
        'Start a discussion with other agents about work that overlaps (conflicts of 90+ open one by themselves on mux_claim_announce). ' +
        `${lifecycle} Returns the thread.`,
      input: OpenThreadInputSchema,
      annotations: local,
    },
    (args) => store.openThread(args),
  );

  registerCoordTool(
    server,
    logger,
    'mux_thread_post',
    {
      title: 'Post to a thread',
      description:
        'Add to a consultation thread you take part in: kind "context" (what you are doing), "warning" (what would break), "question", or "proposal" ' +
        '(a resolution, e.g. "I take session.ts, you take the tests"; it puts the thread in "proposed" and counts as your approval). Returns {thread, messages: [your message]}.',
      input: ThreadPostInputSchema,
      annotations: local,
    },
    ({ kind, ...rest }) => store.actOnThread({ ...rest, action: 'post', kind }),
  );

  registerCoordTool(
    server,
    logger,
    'mux_thread_approve',
    {
      title: 'Approve the proposal',
      description: 'Agree to the proposal on the table. When every participant has approved, the thread is resolved with that proposal as its resolution. Returns {thread, messages}.',
      input: ThreadApproveInputSchema,
      annotations: local,
    },
    (args) => store.actOnThread({ ...args, action: 'approve' }),
  );

  registerCoordTool(
    server,
    logger,
    'mux_thread_contest',
    {
      title: 'Contest the proposal',
      description: 'Reject the proposal (or a resolution) with a reason: the thread goes back to open and the approvals are dropped; propose something else next. Returns {thread, messages}.',
      input: ThreadContestInputSchema,
      annotations: local,
    },
    (args) => store.actOnThread({ ...args, action: 'contest' }),
  );

  registerCoordTool(
    server,
    logger,
    'mux_thread_close',
    {
      title: 'Close or cancel a thread',
      description:
        'End a thread: close it once the agreed work is done, or with cancel: true when the work was abandoned or the thread is no longer relevant. Nothing can be posted after. Returns {thread, messages}.',
      input: ThreadCloseInputSchema,
      annotations: local,
    },
    ({ cancel, ...rest }) => store.actOnThread({ ...rest, action: cancel === true ? 'cancel' : 'close' }),
  );

  registerCoordTool(
    server,
    logger,
    'mux_thread_get',
    {
      title: 'Read a thread',
      description: `A thread you take part in with its messages (oldest first); with after, only newer messages. ${lifecycle} Returns {thread, messages}.`,
      input: GetThreadInputSchema,
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => store.getThread(args),
  );

  registerCoordTool(
    server,
    logger,
    'mux_thread_list',
    {
      title: 'List threads',
      description:
        'Threads of a channel that you may read, most recently active first; filter by status or repo. Returns {threads} (without messages; use mux_thread_get).',
      input: ThreadListQuerySchema,
      annotations: { readOnlyHint: true, ...local },
    },
    async (args) => ({ threads: await store.listThreads(args) }),
  );

  registerCoordTool(
    server,
    logger,
    'mux_thread_updates',
    {
      title: 'Thread updates since',
      description:
        'New messages in every thread you take part in since the message id you pass (0: all), with the current state of those threads. ' +
        'Pass the returned next_after on the next call. Returns {agent_id, messages, threads, next_after, has_more}.',
      input: ThreadUpdatesInputSchema,
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => store.threadUpdates(args),
  );
}
