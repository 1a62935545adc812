import { type CoordOperation, mcpWaitCap, operation, waitMs } from './operation.js';
import type { CoordOptions } from './options.js';
import { GetStateInputSchema, SetStateInputSchema, WatchStateArgsSchema } from './schemas/state.js';

const local = { openWorldHint: false } as const;

/** The operations mux_state_get, mux_state_set and mux_state_watch. */
export function stateTools(options: CoordOptions): CoordOperation[] {
  return [
    operation({
      name: 'mux_state_get',
      route: 'GET /state/get',
      title: 'Read shared state',
      description:
        'Read a shared value that agents of the channel keep together (a pipeline stage, a lock owner, a config). ' +
        'Returns {key, channel, value, version, updated_by, updated_at}; version 0 and value null mean the key was never set. ' +
        'Keep the version to update it safely with mux_state_set expected_version.',
      input: GetStateInputSchema,
      annotations: { readOnlyHint: true, ...local },
      run: ({ key, channel }, { store }) => store.getState(key, channel),
    }),
    operation({
      name: 'mux_state_set',
      route: 'POST /state/set',
      title: 'Write shared state',
      description:
        'Set a shared value (any JSON). Each write increases the version by one. ' +
        'Pass expected_version (the version you read; 0 for "only if it does not exist") to avoid overwriting someone else\'s update: ' +
        'on a mismatch nothing is written and you get CONFLICT with current_version and current_value, so decide again and retry. ' +
        'Returns the new entry.',
      input: SetStateInputSchema,
      annotations: local,
      run: (args, { store }) => store.setState(args),
    }),
    operation({
      name: 'mux_state_watch',
      route: 'GET /state/watch',
      title: 'Wait for a state change',
      description:
        'Wait until a shared key changes past a version you know, then return its new entry at once (changed: true); ' +
        'after `timeout` seconds without a change return the current entry with changed: false. ' +
        `Without after_version it waits for the next write. Keep timeout below your client's request timeout; capped at ${mcpWaitCap(options)} s.`,
      input: WatchStateArgsSchema,
      annotations: { readOnlyHint: true, ...local },
      run: ({ timeout, ...rest }, call) => call.store.watchState({ ...rest, timeout_ms: waitMs(timeout, call), signal: call.signal }),
    }),
  ];
}
