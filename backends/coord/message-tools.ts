import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { fields, type ToolContext } from './agent-tools.js';
import { runTool } from './tool-result.js';

const local = { openWorldHint: false } as const;

/** Registers mux_send, mux_broadcast, mux_poll and mux_history. */
export function registerMessageTools(server: McpServer, { store, options, logger }: ToolContext): void {
  server.registerTool(
    'mux_send',
    {
      title: 'Send a message',
      description:
        "Send a direct message to one agent's inbox (it reads it with mux_poll; its doorbell webhook, if any, is rung). " +
        'Both sender and recipient must be registered, and the recipient must be registered in the channel you send on. ' +
        `Content is at most ${options.max_message_size} bytes; put larger payloads in shared state (mux_state_set) and send the key. ` +
        'Returns {id, channel, sent_at, doorbells}.',
      inputSchema: {
        from: z.string().describe('Your agent id (the sender).'),
        to: z.string().describe('Recipient agent id.'),
        content: z.string().describe('Message text.'),
        channel: fields.channel,
      },
      annotations: local,
    },
    (args) => runTool('mux_send', logger, () => store.sendMessage(args)),
  );

  server.registerTool(
    'mux_broadcast',
    {
      title: 'Broadcast a message',
      description:
        'Send one message to every agent registered in the channel (or only to one group in it), except yourself. ' +
        'Use it for announcements that concern everyone; use mux_send for one recipient. ' +
        'Returns {id, channel, group, sent_at, recipients, doorbells}.',
      inputSchema: {
        from: z.string().describe('Your agent id (the sender; it does not receive its own broadcast).'),
        content: z.string().describe('Message text.'),
        group: z.string().optional().describe('Only agents in this group. Default: everyone in the channel.'),
        channel: fields.channel,
      },
      annotations: local,
    },
    (args) => runTool('mux_broadcast', logger, () => store.broadcast(args)),
  );

  server.registerTool(
    'mux_poll',
    {
      title: 'Read your inbox',
      description:
        'Read new messages sent to you (direct messages and broadcasts) in one channel, waiting up to `timeout` seconds for the first one; ' +
        'it returns as soon as a message arrives. ' +
        'Without `after`, each message is returned once and then counted as read. ' +
        'For at-least-once delivery pass `after` = the next_cursor of the last batch you fully handled: that acknowledges it and returns what follows, ' +
        'and the same messages come back if you crash before acknowledging them. ' +
        `Returns {messages: [{id, from, to, content, channel, kind, group, sent_at}], next_cursor, has_more}. Keep timeout below your client's request timeout (often 60 s); the server caps it at ${options.poll_timeout_max} s.`,
      inputSchema: {
        agent_id: fields.agentId,
        channel: fields.channel,
        timeout: z.number().min(0).optional().describe('Seconds to wait for a first message. Default 30; 0 returns at once.'),
        after: z.number().int().min(0).optional().describe('Acknowledge messages up to this id and return the ones after it (the next_cursor of your previous poll).'),
        limit: z.number().int().min(1).optional().describe('At most this many messages (default 100).'),
      },
      annotations: local,
    },
    ({ timeout, ...rest }, extra) =>
      runTool('mux_poll', logger, () => store.poll({ ...rest, timeout_ms: timeout === undefined ? undefined : timeout * 1000, signal: extra.signal })),
  );

  server.registerTool(
    'mux_history',
    {
      title: 'Message history',
      description:
        'Look back at messages, newest first, without touching anyone\'s inbox cursor. ' +
        'Give agent_id alone to read as that agent: only the messages it sent or received (with group: only those to that group); ' +
        'agent_id and with_agent for the direct messages between two agents; group for the broadcasts to that group; neither for everything in the channel. ' +
        'Behind a gateway with auth, an agent token must pass agent_id = its own name. ' +
        'Page back with before = the smallest id you got. Returns {mode, channel, agent_id (when reading as an agent), messages}.',
      inputSchema: {
        channel: fields.channel,
        agent_id: z.string().optional().describe('Read as this agent (your agent id): only what it sent or received; with with_agent, one side of a direct conversation.'),
        with_agent: z.string().optional().describe('The other side of the conversation (needs agent_id).'),
        group: z.string().optional().describe('Broadcasts to this group.'),
        limit: z.number().int().min(1).optional().describe('At most this many messages (default 50).'),
        before: z.number().int().min(0).optional().describe('Only messages with a smaller id.'),
      },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_history', logger, () => store.history(args)),
  );
}
