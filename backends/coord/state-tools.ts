import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolContext } from './agent-tools.js';
import { registerCoordTool } from './register-tool.js';
import { GetStateInputSchema, SetStateInputSchema, WatchStateArgsSchema } from './schemas/state.js';

const local = { openWorldHint: false } as const;

/** Registers mux_state_get, mux_state_set and mux_state_watch. */
export function registerStateTools(server: McpServer, { store, options, logger }: ToolContext): void {
  registerCoordTool(
    server,
    logger,
    'mux_state_get',
    {
      title: 'Read shared state',
      description:
        'Read a shared value that agents of the channel keep together (a pipeline stage, a lock owner, a config). ' +
        'Returns {key, channel, value, version, updated_by, updated_at}; version 0 and value null mean the key was never set. ' +
        'Keep the version to update it safely with mux_state_set expected_version.',
      input: GetStateInputSchema,
      annotations: { readOnlyHint: true, ...local },
    },
    ({ key, channel }) => store.getState(key, channel),
  );

  registerCoordTool(
    server,
    logger,
    'mux_state_set',
    {
      title: 'Write shared state',
      description:
        'Set a shared value (any JSON). Each write increases the version by one. ' +
        'Pass expected_version (the version you read; 0 for "only if it does not exist") to avoid overwriting someone else\'s update: ' +
        'on a mismatch nothing is written and you get CONFLICT with current_version and current_value, so decide again and retry. ' +
        'Returns the new entry.',
      input: SetStateInputSchema,
      annotations: local,
    },
    (args) => store.setState(args),
  );

  registerCoordTool(
    server,
    logger,
    'mux_state_watch',
    {
      title: 'Wait for a state change',
      description:
        'Wait until a shared key changes past a version you know, then return its new entry at once (changed: true); ' +
        'after `timeout` seconds without a change return the current entry with changed: false. ' +
        `Without after_version it waits for the next write. Keep timeout below your client's request timeout; capped at ${options.poll_timeout_max} s.`,
      input: WatchStateArgsSchema,
      annotations: { readOnlyHint: true, ...local },
    },
    ({ timeout, ...rest }, { signal }) => store.watchState({ ...rest, timeout_ms: timeout === undefined ? undefined : timeout * 1000, signal }),
  );
}
