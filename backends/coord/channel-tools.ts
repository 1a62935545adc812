import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { ToolContext } from './agent-tools.js';
import { runTool } from './tool-result.js';

const local = { openWorldHint: false } as const;

/** Registers mux_channel_create, mux_channel_list and mux_stats. */
export function registerChannelTools(server: McpServer, { store, logger }: ToolContext): void {
  server.registerTool(
    'mux_channel_create',
    {
      title: 'Create a channel',
      description:
        'Create a named channel to keep one team\'s agents, messages, tasks and state apart from others. ' +
        'Channels are also created on first use; creating an existing one is harmless (created: false). Returns {channel, created}.',
      inputSchema: {
        name: z.string().describe('Channel name: letters, digits, . _ : - (up to 64).'),
        created_by: z.string().optional().describe('Your agent id.'),
        description: z.string().optional().describe('What the channel is for.'),
      },
      annotations: { idempotentHint: true, ...local },
    },
    (args) => runTool('mux_channel_create', logger, () => store.createChannel(args)),
  );

  server.registerTool(
    'mux_channel_list',
    {
      title: 'List channels',
      description: 'List every channel with its number of agents, messages, open tasks and state keys. Returns {channels}.',
      annotations: { readOnlyHint: true, ...local },
    },
    () => runTool('mux_channel_list', logger, async () => ({ channels: await store.listChannels() })),
  );

  server.registerTool(
    'mux_stats',
    {
      title: 'Coordination statistics',
      description:
        'Counts of agents (active, stale), messages, tasks by status, state keys and events, for one channel or (without channel) for all. ' +
        'Use it to see whether work is piling up.',
      inputSchema: { channel: z.string().optional().describe('Only this channel. Default: all channels.') },
      annotations: { readOnlyHint: true, ...local },
    },
    ({ channel }) => runTool('mux_stats', logger, () => store.stats(channel)),
  );
}
