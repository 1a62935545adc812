import { type CoordOperation, operation } from './operation.js';
import type { CoordOptions } from './options.js';
import { CreateChannelInputSchema, ListChannelsInputSchema, StatsQuerySchema } from './schemas/channel.js';

const local = { openWorldHint: false } as const;

/** The operations mux_channel_create, mux_channel_list and mux_stats. */
export function channelTools(_options: CoordOptions): CoordOperation[] {
  return [
    operation({
      name: 'mux_channel_create',
      route: 'POST /channel/create',
      title: 'Create a channel',
      description:
        "Create a named channel to keep one team's agents, messages, tasks and state apart from others. " +
        'Channels are also created on first use; creating an existing one is harmless (created: false). Returns {channel, created}.',
      input: CreateChannelInputSchema,
      annotations: { idempotentHint: true, ...local },
      run: (args, { store }) => store.createChannel(args),
    }),
    operation({
      name: 'mux_channel_list',
      route: 'GET /channel/list',
      title: 'List channels',
      description: 'List every channel with its number of agents, messages, open tasks and state keys. Returns {channels}.',
      input: ListChannelsInputSchema,
      annotations: { readOnlyHint: true, ...local },
      run: async (_input, { store }) => ({ channels: await store.listChannels() }),
    }),
    operation({
      name: 'mux_stats',
      route: 'GET /stats',
      title: 'Coordination statistics',
      description:
        'Counts of agents (active, stale), messages, tasks by status, state keys and events, for one channel or (without channel) for all. ' +
        'Use it to see whether work is piling up.',
      input: StatsQuerySchema,
      annotations: { readOnlyHint: true, ...local },
      run: ({ channel }, { store }) => store.stats(channel),
    }),
  ];
}
