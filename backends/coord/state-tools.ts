import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { fields, type ToolContext } from './agent-tools.js';
import { runTool } from './tool-result.js';

const local = { openWorldHint: false } as const;
const key = z.string().describe('State key, e.g. "deployment-status".');

/** Registers mux_state_get, mux_state_set and mux_state_watch. */
export function registerStateTools(server: McpServer, { store, options, logger }: ToolContext): void {
  server.registerTool(
    'mux_state_get',
    {
      title: 'Read shared state',
      description:
        'Read a shared value that agents of the channel keep together (a pipeline stage, a lock owner, a config). ' +
        'Returns {key, channel, value, version, updated_by, updated_at}; version 0 and value null mean the key was never set. ' +
        'Keep the version to update it safely with mux_state_set expected_version.',
      inputSchema: { key, channel: fields.channel },
      annotations: { readOnlyHint: true, ...local },
    },
    ({ key: k, channel }) => runTool('mux_state_get', logger, () => store.getState(k, channel)),
  );

  server.registerTool(
    'mux_state_set',
    {
      title: 'Write shared state',
      description:
        'Set a shared value (any JSON). Each write increases the version by one. ' +
        'Pass expected_version (the version you read; 0 for "only if it does not exist") to avoid overwriting someone else\'s update: ' +
        'on a mismatch nothing is written and you get CONFLICT with current_version and current_value, so decide again and retry. ' +
        'Returns the new entry.',
      inputSchema: {
        key,
        value: z.unknown().describe('The new value: any JSON (string, number, boolean, array or object).'),
        channel: fields.channel,
        expected_version: z.number().int().min(0).optional().describe('Write only if the key is at this version.'),
        updated_by: z.string().optional().describe('Your agent id, recorded with the value.'),
      },
      annotations: local,
    },
    (args) => runTool('mux_state_set', logger, () => store.setState(args)),
  );

  server.registerTool(
    'mux_state_watch',
    {
      title: 'Wait for a state change',
      description:
        'Wait until a shared key changes past a version you know, then return its new entry at once (changed: true); ' +
        'after `timeout` seconds without a change return the current entry with changed: false. ' +
        `Without after_version it waits for the next write. Keep timeout below your client's request timeout; capped at ${options.poll_timeout_max} s.`,
      inputSchema: {
        key,
        channel: fields.channel,
        after_version: z.number().int().min(0).optional().describe('Return once the version is greater than this.'),
        timeout: z.number().min(0).optional().describe('Seconds to wait. Default 30.'),
      },
      annotations: { readOnlyHint: true, ...local },
    },
    ({ timeout, ...rest }, extra) =>
      runTool('mux_state_watch', logger, () =>
        store.watchState({ ...rest, timeout_ms: timeout === undefined ? undefined : timeout * 1000, signal: extra.signal }),
      ),
  );
}
