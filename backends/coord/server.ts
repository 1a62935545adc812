import type { CallToolResult, ServerContext } from '@modelcontextprotocol/server';
import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { coordOperations, exposedOperations } from './coord-operations.js';
import { type CoordOperation, mcpWaitCap } from './operation.js';
import { type CoordOptions, type CoordOptionsInput, coordOptions } from './options.js';
import type { CoordLogger, CoordStore } from './store.js';
import { TOOL_GROUPS } from './tool-groups.js';
import { measureTools } from './tool-meta.js';
import { runTool } from './tool-result.js';

/** The package version reported in `initialize`. */
export const COORD_VERSION = '0.1.0';

/** Names of every tool createCoordServer registers, in registration order. */
export const COORD_TOOLS: readonly string[] = coordOperations(coordOptions()).map((op) => op.name);

/*
 * What the server tells a model at initialize, one line per tool group; a
 * subset ([coordination] tools) keeps the lines of its groups, so the model
 * is never pointed at a tool it cannot call.
 */
const INSTRUCTION_LINES: readonly (readonly [string, string])[] = [
  ['messaging', '- talk: mux_send (one agent), mux_broadcast (everyone or a group), mux_poll (your inbox; long-polls), mux_history;'],
  [
    'tasks',
    '- share work: mux_task_post, mux_task_claim (atomic, with a lease), mux_task_renew (keep a long task), mux_task_complete (pass the lease epoch), mux_task_list;',
  ],
  ['state', '- share facts: mux_state_get / mux_state_set (versioned, compare-and-set) / mux_state_watch;'],
  ['agents', '- find each other: mux_discover; stay visible with mux_heartbeat;'],
  ['channels', '- namespaces: mux_channel_create, mux_channel_list, mux_stats;'],
  [
    'claims',
    '- before editing files: mux_claim_announce (conflicts are scored and listed; 90+ opens a thread), mux_claim_check, mux_claim_renew, mux_claim_release, mux_status;',
  ],
  ['threads', '- settle overlaps: mux_thread_post / mux_thread_approve / mux_thread_contest / mux_thread_close, mux_thread_get, mux_thread_updates.'],
];

function instructions(tools: ReadonlySet<string>): string {
  const lines = INSTRUCTION_LINES.filter(([group]) => TOOL_GROUPS[group]?.some((name) => tools.has(name))).map(([, line]) => line);
  const start = tools.has('mux_register')
    ? 'Start with mux_register (your agent_id, role, capabilities). Then:'
    : 'Agents register first (mux_register, or POST /coord/agent/register). Then:';
  return `Coordination between agents: inboxes, tasks, shared state, channels.
${start}
${lines.join('\n')}
Everything is scoped by channel (default "default"), claims and threads also by repo. Every answer's _meta has {chars, lines, ms, unread}.
Errors start with a code: BAD_REQUEST, FORBIDDEN, UNKNOWN_AGENT, UNKNOWN_TASK, UNKNOWN_CLAIM, UNKNOWN_THREAD, CONFLICT, PAYLOAD_TOO_LARGE.`;
}

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

type Extra = ServerContext;

/**
 * While a call that carries a progressToken runs, a progress notification
 * every `everyMs` (long polls wait up to mcp_poll_timeout_max): a client
 * that resets its request timeout on progress keeps waiting, and a person
 * watching sees the call is alive. Returns the stop.
 */
function progressWhileRunning(extra: Extra, everyMs: number): () => void {
  const progressToken = extra.mcpReq._meta?.progressToken;
  if (progressToken === undefined) return () => undefined;
  const started = Date.now();
  let progress = 0;
  const timer = setInterval(() => {
    progress += 1;
    const message = `Still waiting after ${Math.round((Date.now() - started) / 1000)} s`;
    // A client gone meanwhile cannot be told; the call itself ends on its signal.
    extra.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress, message } }).catch(() => undefined);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Registers one operation as an MCP tool; long polls wait at most mcpWaitCap(options) here. */
function registerOperation(server: McpServer, op: CoordOperation, store: CoordStore, options: CoordOptions, logger: CoordLogger | undefined): void {
  const { name, title, description, annotations, input } = op;
  const waitCap = mcpWaitCap(options);
  const callback = async (args: unknown, extra: Extra): Promise<CallToolResult> => {
    const stop = progressWhileRunning(extra, options.progress_interval * 1000);
    try {
      return await runTool(name, logger, () => op.run(args, { store, signal: extra.mcpReq.signal, waitCap }));
    } finally {
      stop();
    }
  };
  server.registerTool(name, { title, description, annotations, inputSchema: shell(input) }, callback);
}

/**
 * Builds the coordination MCP server over a store; not yet connected. One
 * store serves any number of these servers (one per MCP session), and they
 * all see each other's writes and wake each other's long-polls.
 */
export function createCoordServer(store: CoordStore, options: CoordOptionsInput = {}, logger?: CoordLogger): McpServer {
  const opts = coordOptions(options);
  const operations = exposedOperations(opts);
  const server = new McpServer({ name: 'coord', version: COORD_VERSION }, { instructions: instructions(new Set(operations.map((op) => op.name))) });
  measureTools(server, store);
  // Tools outside [coordination] tools are not registered: listing omits them and calling one is refused as an unknown tool.
  for (const op of operations) registerOperation(server, op, store, opts, logger);
  return server;
}
