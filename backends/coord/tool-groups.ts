import { didYouMean } from '../../kit/did-you-mean.js';

/*
 * [coordination] tools: which coordination tools MCP lists and answers, so an
 * operator can spend less of every model's tool budget on coordination (the
 * 36 tools are ~34 KB of each tools/list). A group is one area of
 * operations (one *-tools.ts file); "all" is every tool. REST keeps every
 * route whatever the subset: it costs no model tokens.
 */

/** The tool groups and their tools, in tool-list order (test/coord/tool-groups.test.ts holds this against coord-operations.ts). */
export const TOOL_GROUPS: Readonly<Record<string, readonly string[]>> = {
  agents: ['mux_register', 'mux_deregister', 'mux_heartbeat', 'mux_discover', 'mux_agent_state', 'mux_wait_for_peers', 'mux_groups'],
  messaging: ['mux_send', 'mux_broadcast', 'mux_poll', 'mux_history'],
  tasks: ['mux_task_post', 'mux_task_claim', 'mux_task_renew', 'mux_task_complete', 'mux_task_list'],
  state: ['mux_state_get', 'mux_state_set', 'mux_state_watch'],
  channels: ['mux_channel_create', 'mux_channel_list', 'mux_stats'],
  claims: ['mux_claim_announce', 'mux_claim_check', 'mux_claim_renew', 'mux_claim_release', 'mux_claim_list', 'mux_status'],
  threads: [
    'mux_thread_open',
    'mux_thread_post',
    'mux_thread_approve',
    'mux_thread_contest',
    'mux_thread_close',
    'mux_thread_get',
    'mux_thread_list',
    'mux_thread_updates',
  ],
};

/** The word for every tool. */
export const ALL_TOOLS = 'all';

const TOOL_NAMES: readonly string[] = Object.values(TOOL_GROUPS).flat();

/** Why `entry` is not a group or tool name, with the nearest one; undefined when it is one. */
export function toolEntryProblem(entry: string): string | undefined {
  if (entry === ALL_TOOLS || TOOL_GROUPS[entry] !== undefined || TOOL_NAMES.includes(entry)) return undefined;
  const hint = didYouMean(entry, [ALL_TOOLS, ...Object.keys(TOOL_GROUPS), ...TOOL_NAMES]);
  return `'${entry}' is not a coordination tool group or tool${hint}; the groups are ${[ALL_TOOLS, ...Object.keys(TOOL_GROUPS)].join(', ')}, or name single tools (mux_send, …)`;
}

/** The tool names `entries` select (groups expanded); every name for "all". */
export function selectedTools(entries: readonly string[]): ReadonlySet<string> {
  if (entries.includes(ALL_TOOLS)) return new Set(TOOL_NAMES);
  return new Set(entries.flatMap((entry) => TOOL_GROUPS[entry] ?? [entry]));
}
