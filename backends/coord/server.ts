import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { coordOperations } from './coord-operations.js';
import type { CoordOperation } from './operation.js';
import { type CoordOptionsInput, coordOptions } from './options.js';
import type { CoordLogger, CoordStore } from './store.js';
import { measureTools } from './tool-meta.js';
import { runTool } from './tool-result.js';

/** The package version reported in `initialize`. */
export const COORD_VERSION = '0.1.0';

/** Names of every tool createCoordServer registers, in registration order. */
export const COORD_TOOLS: readonly string[] = coordOperations(coordOptions()).map((op) => op.name);

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

/*
 * The SDK checks arguments against the schema it is given and answers its
 * own "Input validation error" text, with no code and in other words than
 * REST. So it is given a shell: an object schema that lets every argument
 * through to the operation's own check (parse-input.ts, the one REST uses)
 * but lists, in tools/list, exactly the operation's JSON Schema, with
 * additionalProperties: false so models see that no other field is taken.
 * Behind the gateway, coord's arguments are not checked against that
 * listing either (the built-in says it checks its own), so every surface
 * answers a bad input with the same BAD_REQUEST, sentence and field.
 */
const shells = new WeakMap<z.ZodObject, z.ZodObject>();
function shell(schema: z.ZodObject): z.ZodObject {
  let copy = shells.get(schema);
  if (copy === undefined) {
    const { $schema: _draft, ...listed } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' });
    copy = z.looseObject({}).meta(listed);
    shells.set(schema, copy);
  }
  return copy;
}

/** Registers one operation as an MCP tool. */
function registerOperation(server: McpServer, op: CoordOperation, store: CoordStore, logger: CoordLogger | undefined): void {
  const { name, title, description, annotations, input } = op;
  const callback = (args: unknown, extra: RequestHandlerExtra<ServerRequest, ServerNotification>): Promise<CallToolResult> =>
    runTool(name, logger, () => op.run(args, { store, signal: extra.signal }));
  server.registerTool(name, { title, description, annotations, inputSchema: shell(input) }, callback);
}

/**
 * Builds the coordination MCP server over a store; not yet connected. One
 * store serves any number of these servers (one per MCP session), and they
 * all see each other's writes and wake each other's long-polls.
 */
export function createCoordServer(store: CoordStore, options: CoordOptionsInput = {}, logger?: CoordLogger): McpServer {
  const server = new McpServer({ name: 'coord', version: COORD_VERSION }, { instructions: INSTRUCTIONS });
  measureTools(server, store);
  for (const op of coordOperations(coordOptions(options))) registerOperation(server, op, store, logger);
  return server;
}
