import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { registerAgentTools, type ToolContext } from './agent-tools.js';
import { registerChannelTools } from './channel-tools.js';
import { registerClaimTools } from './claim-tools.js';
import { registerMessageTools } from './message-tools.js';
import { coordOptions, type CoordOptionsInput } from './options.js';
import { registerStateTools } from './state-tools.js';
import type { CoordLogger, CoordStore } from './store.js';
import { registerTaskTools } from './task-tools.js';
import { registerThreadTools } from './thread-tools.js';
import { measureTools } from './tool-meta.js';

/** The package version reported in `initialize`. */
export const COORD_VERSION = '0.1.0';

/** Names of every tool createCoordServer registers, in registration order. */
export const COORD_TOOLS = [
  'mux_register',
  'mux_deregister',
  'mux_heartbeat',
  'mux_discover',
  'mux_send',
  'mux_broadcast',
  'mux_poll',
  'mux_history',
  'mux_task_post',
  'mux_task_claim',
  'mux_task_complete',
  'mux_task_list',
  'mux_state_get',
  'mux_state_set',
  'mux_state_watch',
  'mux_channel_create',
  'mux_channel_list',
  'mux_stats',
  'mux_claim_announce',
  'mux_claim_check',
  'mux_claim_renew',
  'mux_claim_release',
  'mux_claim_list',
  'mux_status',
  'mux_thread_open',
  'mux_thread_post',
  'mux_thread_approve',
  'mux_thread_contest',
  'mux_thread_close',
  'mux_thread_get',
  'mux_thread_list',
  'mux_thread_updates',
] as const;

const INSTRUCTIONS = `Coordination between agents: inboxes, tasks, shared state, channels.
Start with mux_register (your agent_id, role, capabilities). Then:
- talk: mux_send (one agent), mux_broadcast (everyone or a group), mux_poll (your inbox; long-polls), mux_history;
- share work: mux_task_post, mux_task_claim (atomic, with a lease), mux_task_complete (pass the lease epoch), mux_task_list;
- share facts: mux_state_get / mux_state_set (versioned, compare-and-set) / mux_state_watch;
- find each other: mux_discover; stay visible with mux_heartbeat;
- before editing files: mux_claim_announce (conflicts are scored and listed; 90+ opens a thread), mux_claim_check, mux_claim_renew, mux_claim_release, mux_status;
- settle overlaps: mux_thread_post / mux_thread_approve / mux_thread_contest / mux_thread_close, mux_thread_get, mux_thread_updates.
Everything is scoped by channel (default "default"), claims and threads also by repo. Every answer's _meta has {chars, lines, ms, unread}.
Errors start with a code: BAD_REQUEST, FORBIDDEN, UNKNOWN_AGENT, UNKNOWN_TASK, UNKNOWN_CLAIM, UNKNOWN_THREAD, CONFLICT, PAYLOAD_TOO_LARGE.`;

/**
 * Builds the coordination MCP server over a store; not yet connected. One
 * store serves any number of these servers (one per MCP session), and they
 * all see each other's writes and wake each other's long-polls.
 */
export function createCoordServer(store: CoordStore, options: CoordOptionsInput = {}, logger?: CoordLogger): McpServer {
  const server = new McpServer({ name: 'coord', version: COORD_VERSION }, { instructions: INSTRUCTIONS });
  const ctx: ToolContext = { store, options: coordOptions(options), logger };
  measureTools(server, store);
  registerAgentTools(server, ctx);
  registerMessageTools(server, ctx);
  registerTaskTools(server, ctx);
  registerStateTools(server, ctx);
  registerChannelTools(server, ctx);
  registerClaimTools(server, ctx);
  registerThreadTools(server, ctx);
  return server;
}
