import { z } from 'zod';
import { channel } from './fields.js';

/* Inputs of the shared-state operations: mux_state_get, mux_state_set, mux_state_watch and their /state/* routes. */

const key = z.string().describe('State key, e.g. "deployment-status".');

/** mux_state_get, GET /state/get. */
export const GetStateInputSchema = z.strictObject({ key, channel });
export type GetStateInput = z.infer<typeof GetStateInputSchema>;

/** mux_state_set, POST /state/set. */
export const SetStateInputSchema = z.strictObject({
  key,
  value: z.unknown().describe('The new value: any JSON (string, number, boolean, array or object).'),
  channel,
  expected_version: z.number().int().min(0).optional().describe('Write only if the key is at this version.'),
  updated_by: z.string().optional().describe('Your agent id, recorded with the value.'),
});
export type SetStateInput = z.infer<typeof SetStateInputSchema>;

/** mux_state_watch, GET /state/watch: `timeout` in seconds (the store takes WatchStateInput, in ms). */
export const WatchStateArgsSchema = z.strictObject({
  key,
  channel,
  after_version: z.number().int().min(0).optional().describe('Return once the version is greater than this.'),
  timeout: z.number().min(0).optional().describe('Seconds to wait. Default 30.'),
});
export type WatchStateArgs = z.infer<typeof WatchStateArgsSchema>;
