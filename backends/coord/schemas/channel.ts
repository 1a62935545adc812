import { z } from 'zod';

/* Inputs of the channel operations: mux_channel_create, mux_channel_list, mux_stats and their routes. */

/** mux_channel_create, POST /channel/create. */
export const CreateChannelInputSchema = z.strictObject({
  name: z.string().describe('Channel name: letters, digits, . _ : - (up to 64).'),
  created_by: z.string().optional().describe('Your agent id.'),
  description: z.string().optional().describe('What the channel is for.'),
});
export type CreateChannelInput = z.infer<typeof CreateChannelInputSchema>;

/** mux_channel_list, GET /channel/list: takes nothing. */
export const ListChannelsInputSchema = z.strictObject({});

/** mux_stats, GET /stats. */
export const StatsQuerySchema = z.strictObject({ channel: z.string().optional().describe('Only this channel. Default: all channels.') });
export type StatsQuery = z.infer<typeof StatsQuerySchema>;
