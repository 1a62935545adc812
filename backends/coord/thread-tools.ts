import { type CoordOperation, operation } from './operation.js';
import type { CoordOptions } from './options.js';
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

/** The mux_thread_* operations. */
export function threadTools(options: CoordOptions): CoordOperation[] {
  const lifecycle =
    `A thread is open, then proposed (a proposal is on the table), then resolved (every participant approved, or ${options.thread_timeout} s passed without activity), then closed; ` +
    'contest sends it back to open; cancel ends it. Every participant gets each action in their inbox.';

  return [
    operation({
      name: 'mux_thread_open',
      route: 'POST /thread/open',
      title: 'Open a consultation thread',
      description:
        'Start a discussion with other agents about work that overlaps (conflicts of 90+ open one by themselves on mux_claim_announce). ' +
        `Participants must be registered in the channel. ${lifecycle} Returns the thread (the live one, if the same claim_ids already have one).`,
      input: OpenThreadInputSchema,
      annotations: local,
      run: (args, { store }) => store.openThread(args),
    }),
    operation({
      name: 'mux_thread_post',
      route: 'POST /thread/post',
      title: 'Post to a thread',
      description:
        'Add to a consultation thread you take part in: kind "context" (what you are doing), "warning" (what would break), "question", or "proposal" ' +
        '(a resolution, e.g. "I take session.ts, you take the tests"; it puts the thread in "proposed" and counts as your approval). Returns {thread, messages: [your message]}.',
      input: ThreadPostInputSchema,
      annotations: local,
      run: ({ kind, ...rest }, { store }) => store.actOnThread({ ...rest, action: 'post', kind }),
    }),
    operation({
      name: 'mux_thread_approve',
      route: 'POST /thread/approve',
      title: 'Approve the proposal',
      description:
        'Agree to the proposal on the table. When every participant has approved, the thread is resolved with that proposal as its resolution. Returns {thread, messages}.',
      input: ThreadApproveInputSchema,
      annotations: local,
      run: (args, { store }) => store.actOnThread({ ...args, action: 'approve' }),
    }),
    operation({
      name: 'mux_thread_contest',
      route: 'POST /thread/contest',
      title: 'Contest the proposal',
      description:
        'Reject the proposal (or a resolution) with a reason: the thread goes back to open and the approvals are dropped; propose something else next. Returns {thread, messages}.',
      input: ThreadContestInputSchema,
      annotations: local,
      run: (args, { store }) => store.actOnThread({ ...args, action: 'contest' }),
    }),
    operation({
      name: 'mux_thread_close',
      route: 'POST /thread/close',
      title: 'Close or cancel a thread',
      description:
        'End a thread: close it once the agreed work is done, or with cancel: true when the work was abandoned or the thread is no longer relevant. Nothing can be posted after. Returns {thread, messages}.',
      input: ThreadCloseInputSchema,
      annotations: local,
      run: ({ cancel, ...rest }, { store }) => store.actOnThread({ ...rest, action: cancel === true ? 'cancel' : 'close' }),
    }),
    operation({
      name: 'mux_thread_get',
      route: 'GET /thread/get',
      title: 'Read a thread',
      description: `A thread you take part in with its messages (oldest first); with after, only newer messages. ${lifecycle} Returns {thread, messages}.`,
      input: GetThreadInputSchema,
      annotations: { readOnlyHint: true, ...local },
      run: (args, { store }) => store.getThread(args),
    }),
    operation({
      name: 'mux_thread_list',
      route: 'GET /thread/list',
      title: 'List threads',
      description:
        'Threads of a channel that you may read, most recently active first; filter by status or repo. Returns {threads} (without messages; use mux_thread_get).',
      input: ThreadListQuerySchema,
      annotations: { readOnlyHint: true, ...local },
      run: async (args, { store }) => ({ threads: await store.listThreads(args) }),
    }),
    operation({
      name: 'mux_thread_updates',
      route: 'GET /thread/updates',
      title: 'Thread updates since',
      description:
        'New messages in every thread you take part in since the message id you pass (0: all), with the current state of those threads. ' +
        'Pass the returned next_after on the next call. Returns {agent_id, messages, threads, next_after, has_more}.',
      input: ThreadUpdatesInputSchema,
      annotations: { readOnlyHint: true, ...local },
      run: (args, { store }) => store.threadUpdates(args),
    }),
  ];
}
