import type { ClientCapabilities, Result, Server, ServerCapabilities, ServerContext } from '@modelcontextprotocol/server';
import { ProtocolErrorCode } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { TaskInbox } from '../dispatch/task-input.js';
import { POLL_INTERVAL_MS, taskOf } from '../dispatch/task-store.js';
import { isGatewayError, rpcFailure, toGatewayError } from '../errors.js';
import { traceContextOf } from '../pool/backend-era.js';
import type { AsyncCall } from '../store/dispatch-store.js';
import { submitterContext } from '../telemetry/telemetry.js';
import { isRelayedTask, relayedTaskMethod } from './relayed-task.js';
import type { SessionServerSources } from './session-server.js';
import type { View } from './view.js';

/*
 * [mcp-ext] The Tasks extension (io.modelcontextprotocol/tasks, SEP-2663)
 * for 2026-07-28 clients, answered from the dispatch table — the table of
 * gate_call_async, GET /call/{id} and the 2025-11-25 tasks (task-handlers.ts).
 *
 * The server decides which calls become tasks: a tools/call whose request
 * declares the extension in its clientCapabilities, of a tool its backend's
 * `task_tools` names ("*": every tool), is submitted to the table and
 * answered at once with `resultType: "task"` (the call is stored before
 * the answer: a tasks/get of its id resolves). Any other call runs as
 * before. A 2026-07-28 request's `task` parameter (the 2025 opt-in) is
 * ignored, as the extension requires.
 *
 * A task belongs to its caller as an async call does: with auth, the
 * token's name (another token's tasks/get, tasks/update or tasks/cancel is
 * answered "not found", never the data); without auth, the unguessable id
 * (128 random bits) is the capability, as for gate_call_async and 2025
 * tasks. tasks/get and tasks/cancel read the 2025 tasks and async calls of
 * the same owner too (the extension asks servers to let them).
 */

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** The extension's methods, registered on a 2026-07-28 server (the SDK answers tasks/result and tasks/list 404). */
const METHODS = ['tasks/get', 'tasks/update', 'tasks/cancel'] as const;

const TaskParams = z.looseObject({ taskId: z.string() });

const STATUS: Record<AsyncCall['state'], string> = {
  pending: 'working',
  running: 'working',
  complete: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** What one 2026-07-28 request declared in its `_meta` clientCapabilities. */
function declared(ctx: ServerContext): ClientCapabilities {
  const capabilities = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/clientCapabilities'];
  return capabilities !== null && typeof capabilities === 'object' ? (capabilities as ClientCapabilities) : {};
}

/** Whether one 2026-07-28 request declared the Tasks extension in its `_meta` clientCapabilities. */
export function declaresTasks(ctx: ServerContext): boolean {
  const extensions = (declared(ctx) as { extensions?: unknown }).extensions;
  return extensions !== null && typeof extensions === 'object' && TASKS_EXTENSION in extensions;
}

const names = (list: readonly string[] | undefined, tool: string): boolean => list !== undefined && (list.includes('*') || list.includes(tool));

/** Whether a backend's `task_tools` or `task_required` names a tool (by its own name). */
export function runsAsTask(gateway: Pick<SessionServerSources, 'supervisor'>, server: string, tool: string): boolean {
  if (!gateway.supervisor.has(server)) return false;
  const { config } = gateway.supervisor.get(server);
  return names(config.taskTools, tool) || names(config.taskRequired, tool);
}

/** Whether a view shows a backend that runs tools as tasks. */
function offersTasks(gateway: Pick<SessionServerSources, 'supervisor'>, view: View): boolean {
  return gateway.supervisor
    .list()
    .some((b) => (b.config.taskTools?.length ?? 0) + (b.config.taskRequired?.length ?? 0) > 0 && (view.servers === undefined || view.servers.has(b.name)));
}

/**
 * A server's capabilities with `extensions` (the backends' union on `/mcp`,
 * undefined when none or not shown), and — when `shown` (a 2026-07-28
 * answer that shows capabilities) and the view shows a backend with
 * `task_tools` — the Tasks extension, which is then the gateway's own.
 */
export function withTasksExtension(
  gateway: Pick<SessionServerSources, 'supervisor'>,
  view: View,
  shown: boolean,
  base: ServerCapabilities,
  extensions: ServerCapabilities['extensions'],
): ServerCapabilities {
  if (!shown || !offersTasks(gateway, view)) return extensions === undefined ? base : { ...base, extensions };
  return { ...base, extensions: { ...(extensions ?? base.extensions), [TASKS_EXTENSION]: {} } };
}

/**
 * The task's time to live from its creation: the time it may still run
 * ([dispatch] async_timeout) plus [dispatch] result_ttl while it runs, the
 * time left to its expiry once it has finished.
 */
function ttlMsOf(gateway: Pick<SessionServerSources, 'config'>, call: AsyncCall): number {
  const created = Date.parse(call.submitted_at);
  if (call.expires_at !== null) return Math.max(0, call.expires_at - created);
  return gateway.config.dispatch.async_timeout + gateway.config.dispatch.result_ttl * 1000;
}

/** A running call's latest progress as a status message (`progress 300/1000: message`), as gate_poll shows it. */
function progressMessage(call: AsyncCall): string | undefined {
  const p = call.progress;
  if (p === null || (call.state !== 'pending' && call.state !== 'running')) return undefined;
  return `progress ${p.progress}${p.total === undefined ? '' : `/${p.total}`}${p.message === undefined ? '' : `: ${p.message}`}`;
}

/**
 * The extension's Task of an async call (no result or error: CreateTaskResult
 * carries neither). A running task whose backend waits for the caller's
 * answers (dispatch/task-input.ts) is `input_required` with them.
 */
function taskFields(gateway: Pick<SessionServerSources, 'config' | 'dispatch'>, call: AsyncCall): Record<string, unknown> {
  const legacy = taskOf(call, 0);
  const statusMessage = legacy.statusMessage ?? progressMessage(call);
  const inputRequests = call.state === 'running' ? gateway.dispatch.inputOf(call.id) : undefined;
  return {
    taskId: call.id,
    status: inputRequests === undefined ? STATUS[call.state] : 'input_required',
    ...(inputRequests === undefined ? {} : { inputRequests }),
    ...(statusMessage === undefined ? {} : { statusMessage }),
    createdAt: legacy.createdAt,
    lastUpdatedAt: legacy.lastUpdatedAt,
    ttlMs: ttlMsOf(gateway, call),
    pollIntervalMs: POLL_INTERVAL_MS,
  };
}

/**
 * The DetailedTask of tasks/get: a completed task inlines the tool's result
 * (an `isError` result included: the tool ran), a failed one the JSON-RPC
 * error the call met (-32603, the gateway's error code in `data.code`).
 */
export function detailedTask(gateway: Pick<SessionServerSources, 'config' | 'dispatch'>, call: AsyncCall): Result {
  const task = taskFields(gateway, call);
  if (call.state === 'complete' && call.result !== null) return { ...task, result: call.result };
  if (call.state === 'failed') {
    const error = call.error ?? { code: 'INTERNAL', message: 'The call ended without a result' };
    return { ...task, error: { code: ProtocolErrorCode.InternalError, message: `${error.code}: ${error.message}`, data: { code: error.code } } };
  }
  return task;
}

/**
 * A tools/call of a 2026-07-28 caller that declared the extension, of a
 * task tool: submitted to the table, answered with its CreateTaskResult.
 * Undefined when the call is not to become a task.
 */
export async function modernTask(
  gateway: Pick<SessionServerSources, 'config' | 'dispatch' | 'supervisor'>,
  view: View,
  ctx: ServerContext,
  entry: { server: string; name: string },
  args: Record<string, unknown>,
): Promise<Result | undefined> {
  if (!runsAsTask(gateway, entry.server, entry.name)) return undefined;
  if (!declaresTasks(ctx)) {
    // `task_required`: the tool is served only as a task (SEP-2663 §Required Capabilities).
    if (names(gateway.supervisor.get(entry.server).config.taskRequired, entry.name)) throw missingExtension(`tools/call of ${entry.name}`);
    return undefined;
  }
  const call = await submitTask(gateway, view, entry, args, new TaskInbox(declared(ctx)), submitterOf(ctx));
  const { inputRequests: _none, ...task } = taskFields(gateway, call);
  return { resultType: 'task', ...task };
}

/** Submits a task-augmented call to the dispatch table; arguments that break the tool's schema are the caller's -32602, before a task exists. */
/** [otel] The context a task keeps of the request that submitted it: its MCP span's (recorded), else the caller's `_meta` one. */
export function submitterOf(ctx: { mcpReq: { signal: AbortSignal; _meta?: unknown } }): Readonly<Record<string, string>> | undefined {
  return submitterContext(ctx.mcpReq.signal, traceContextOf(ctx.mcpReq._meta));
}

export function submitTask(
  gateway: Pick<SessionServerSources, 'dispatch'>,
  view: View,
  entry: { server: string; name: string },
  args: Record<string, unknown>,
  inbox?: TaskInbox,
  traceContext?: Readonly<Record<string, string>>, // [otel] the caller's `_meta` context, carried by the call
): Promise<AsyncCall> {
  const { server, name: tool } = entry;
  return gateway.dispatch
    .submit({
      server,
      tool,
      arguments: args,
      caller: view.caller,
      owner: view.owner ?? null,
      servers: view.servers,
      traceContext,
      ...(inbox === undefined ? {} : { inbox }),
    })
    .catch((err: unknown) => {
      const error = toGatewayError(err);
      throw error.code === 'INVALID_ARGUMENTS' ? rpcFailure(ProtocolErrorCode.InvalidParams, `${error.code}: ${error.message}`) : err;
    });
}

/**
 * A subscriptions/listen body that asks for task status (`notifications.taskIds`)
 * without declaring the extension: the -32021 the extension requires, else
 * undefined. A declaring client's stream is served by the gateway
 * (http/listen-tasks.ts).
 */
export function listenTaskRefusal(body: unknown): { message: string; data: Record<string, unknown> } | undefined {
  const params = (body as { params?: { notifications?: { taskIds?: unknown }; _meta?: Record<string, unknown> } } | null)?.params;
  if (params?.notifications?.taskIds === undefined) return undefined;
  const capabilities = params._meta?.['io.modelcontextprotocol/clientCapabilities'] as { extensions?: unknown } | undefined;
  const extensions = capabilities?.extensions;
  if (extensions !== null && typeof extensions === 'object' && TASKS_EXTENSION in extensions) return undefined;
  const error = missingExtension('subscriptions/listen with taskIds') as Error & { data: Record<string, unknown> };
  return { message: error.message, data: error.data };
}

/** -32021 for a tasks/* request that did not declare the extension (SEP-2663 §Error Handling). */
function missingExtension(method: string): Error {
  return rpcFailure(-32021, `Missing required client capability: ${method} needs the ${TASKS_EXTENSION} extension in _meta clientCapabilities`, {
    requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } },
  });
}

/**
 * Registers tasks/get, tasks/update and tasks/cancel on a 2026-07-28
 * server (those of them `only` names). They are registered with their own
 * params schema: the SDK serves tasks/get and tasks/cancel in the modern era
 * only so (a plain handler, or the fallback handler, of a method the 2025
 * revision defined is answered -32601 there); tasks/update is no spec method.
 */
export function registerTaskMethods(server: Server, gateway: Pick<SessionServerSources, 'config' | 'dispatch' | 'router'>, view: View, only?: string): void {
  const owner = view.owner ?? null;
  const find = async (taskId: string): Promise<AsyncCall> => {
    try {
      return await gateway.dispatch.get(taskId, owner);
    } catch (err) {
      // Unknown, expired or another caller's: the same answer.
      if (isGatewayError(err) && err.code === 'UNKNOWN_CALL') throw rpcFailure(ProtocolErrorCode.InvalidParams, 'Failed to retrieve task: Task not found');
      throw err;
    }
  };
  // tasks/update's inputResponses: the SDK lifts them off the params (ctx.mcpReq), as for a tools/call retry.
  type Asked = { taskId: string; inputResponses?: Record<string, unknown> | undefined };
  const answer: Record<(typeof METHODS)[number], (params: Asked) => Promise<Result>> = {
    'tasks/get': async ({ taskId }) => detailedTask(gateway, await find(taskId)),
    // The answers go to the questions the task waits on (dispatch/task-input.ts); keys not outstanding are ignored, as the extension says.
    'tasks/update': async ({ taskId, inputResponses }) => {
      await find(taskId);
      if (inputResponses !== undefined) await gateway.dispatch.answerInput(taskId, owner, inputResponses);
      return {};
    },
    // An acknowledgement, the same for a finished task; the cancelled status shows on the next tasks/get.
    'tasks/cancel': async ({ taskId }) => {
      const call = await find(taskId);
      if (call.state === 'pending' || call.state === 'running') await gateway.dispatch.cancel(taskId, owner);
      return {};
    },
  };
  for (const method of METHODS) {
    if (only !== undefined && only !== method) continue;
    server.setRequestHandler(method, { params: TaskParams }, async (params, ctx): Promise<Result> => {
      if (!declaresTasks(ctx)) throw missingExtension(method);
      // A 2026-07-28 backend's own task handed to its caller: forwarded to the backend (relayed-task.ts).
      if (isRelayedTask(params.taskId)) return relayedTaskMethod(gateway, view, method, params.taskId, ctx.mcpReq.inputResponses);
      return answer[method]({ taskId: params.taskId, inputResponses: ctx.mcpReq.inputResponses });
    });
  }
}
