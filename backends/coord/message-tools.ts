import { type CoordOperation, mcpWaitCap, operation, waitMs } from './operation.js';
import type { CoordOptions } from './options.js';
import { BroadcastInputSchema, HistoryQuerySchema, PollArgsSchema, SendInputSchema } from './schemas/message.js';

const local = { openWorldHint: false } as const;

/** The operations mux_send, mux_broadcast, mux_poll and mux_history. */
export function messageTools(options: CoordOptions): CoordOperation[] {
  return [
    operation({
      name: 'mux_send',
      route: 'POST /msg/send',
      title: 'Send a message',
      description:
        "Send a direct message to one agent's inbox (it reads it with mux_poll; its doorbell webhook, if any, is rung). " +
        'Both sender and recipient must be registered, and the recipient must be registered in the channel you send on. ' +
        `Content is at most ${options.max_message_size} bytes; put larger payloads in shared state (mux_state_set) and send the key. ` +
        'Returns {id, channel, sent_at, doorbells}.',
      input: SendInputSchema,
      annotations: local,
      run: (args, { store }) => store.sendMessage(args),
    }),
    operation({
      name: 'mux_broadcast',
      route: 'POST /msg/broadcast',
      title: 'Broadcast a message',
      description:
        'Send one message to every agent registered in the channel (or only to one group in it), except yourself. ' +
        'Use it for announcements that concern everyone; use mux_send for one recipient. ' +
        'Returns {id, channel, group, sent_at, recipients, doorbells}.',
      input: BroadcastInputSchema,
      annotations: local,
      run: (args, { store }) => store.broadcast(args),
    }),
    operation({
      name: 'mux_poll',
      route: 'GET /msg/poll',
      title: 'Read your inbox',
      description:
        'Your new messages (direct and broadcast) in one channel, as soon as one arrives or after `timeout` s. ' +
        'Without `after` each is returned once (then read); with `after` = the next_cursor of the last batch you handled, unacknowledged messages come back after a crash (at-least-once). ' +
        `Returns {messages: [{id, from, to, content, channel, kind, group, sent_at}], next_cursor, has_more}. Keep timeout below your client's request timeout (often 60 s); the server caps it at ${mcpWaitCap(options)} s over MCP.`,
      input: PollArgsSchema,
      annotations: local,
      run: ({ timeout, ...rest }, call) => call.store.poll({ ...rest, timeout_ms: waitMs(timeout, call), signal: call.signal }),
    }),
    operation({
      name: 'mux_history',
      route: 'GET /msg/history',
      title: 'Message history',
      description:
        "Past messages, newest first; moves no inbox cursor. As agent_id: what it sent or received; with with_agent: one conversation; group: that group's broadcasts; none: the whole channel (agent tokens must pass their own agent_id). " +
        'Page back with before = the smallest id you got. Returns {mode, channel, agent_id?, messages}.',
      input: HistoryQuerySchema,
      annotations: { readOnlyHint: true, ...local },
      run: (args, { store }) => store.history(args),
    }),
  ];
}
