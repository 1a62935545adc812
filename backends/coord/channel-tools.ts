import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolContext } from './agent-tools.js';
import { registerCoordTool } from './register-tool.js';
import { CreateChannelInputSchema, ListChannelsInputSchema, StatsQuerySchema } from './schemas/channel.js';

const local = { openWorldHint: false } as const;

/** Registers mux_channel_create, mux_channel_list and mux_stats. */
export function registerChannelTools(server: McpServer, { store, logger }: ToolContext): void {
  registerCoordTool(
    server,
    logger,
    'mux_channel_create',
    {
      title: 'Create a channel',
      description:
        'Create a named channel to keep one team\'s agents, messages, tasks and state apart from others. ' +
        'Channels are also created on first use; creating an existing one is harmless (created: false). Returns {channel, created}.',
      input: CreateChannelInputSchema,
      annotations: { idempotentHint: true, ...local },
    },
    (args) => store.createChannel(args),
  );

  registerCoordTool(
    server,
    logger,
    'mux_channel_list',
    {
      title: 'List channels',
      description: 'List every channel with its number of agents, messages, open tasks and state keys. Returns {channels}.',
      input: ListChannelsInputSchema,
      annotations: { readOnlyHint: true, ...local },
    },
    async () => ({ channels: await store.listChannels() }),
  );

  registerCoordTool(
    server,
    logger,
    'mux_stats',
    {
      title: 'Coordination statistics',
      description:
        'Counts of agents (active, stale), messages, tasks by status, state keys and events, for one channel or (without channel) for all. ' +
        'Use it to see whether work is piling up.',
      input: StatsQuerySchema,
      annotations: { readOnlyHint: true, ...local },
    },
    ({ channel }) => store.stats(channel),
  );
}
