import type { JSONRPCRequest, Result, ServerContext } from '@modelcontextprotocol/server';
import { ProtocolErrorCode, RELATED_TASK_META_KEY } from '@modelcontextprotocol/server';
import type { DispatchTable } from '../dispatch/table.js';
import { taskOf } from '../dispatch/task-store.js';
import { isGatewayError, rpcFailure } from '../errors.js';
import type { AsyncCall } from '../store/dispatch-store.js';

/*
 * MCP tasks of protocol 2025-11-25, answered from the dispatch table:
 * tasks/get, tasks/result, tasks/list and tasks/cancel read the same calls
 * (and the same data_dir database) as gate_poll and GET /call/{id}. A task
 * is made by the session's tools/call handler (a task-augmented call is
 * submitted to the table). SDK v2 left the 2025 task side-channel to the
 * application (its wire types remain), so these handlers keep the answers
 * SDK v1's task store gave: the same shapes and the same refusals.
 */

const TERMINAL = new Set<AsyncCall['state']>(['complete', 'failed', 'cancelled']);

/** How long one wait of tasks/result lasts before it looks again (the table caps it at max_await). */
const RESULT_WAIT_MS = 60_000;

/** The call's outcome as the tools/call result it stands for. */
function resultOf(call: AsyncCall): Result {
  if (call.result !== null) return call.result;
  const error = call.error ?? { code: 'INTERNAL', message: 'The call ended without a result' };
  return { content: [{ type: 'text', text: `${error.code}: ${error.message}` }], isError: true, _meta: { 'stonegate/error': { code: error.code } } };
}

/** A task request's answerer: undefined for a method that is not one of the four. */
export type TaskRequests = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result> | undefined;

/** The taskId of a tasks/* request, or -32602. */
function taskIdOf(request: JSONRPCRequest): string {
  const taskId = request.params?.taskId;
  if (typeof taskId !== 'string') throw rpcFailure(ProtocolErrorCode.InvalidParams, `Invalid ${request.method} request: params.taskId must be a string`);
  return taskId;
}

/**
 * tasks/get, tasks/result, tasks/list and tasks/cancel for the calls `owner`
 * may see. The SDK's method types no longer name them (2026-07-28 moved
 * tasks to an extension), so the session's fallback handler routes them here.
 * `shown` turns a backend's result into what the endpoint shows (MCP Apps URIs).
 */
export function taskRequests(
  table: DispatchTable,
  ttlSeconds: number,
  owner: string | null,
  shown: (server: string, result: Result) => Result = (_server, result) => result,
): TaskRequests {
  const ttlMs = ttlSeconds * 1000;
  const find = async (taskId: string): Promise<AsyncCall | undefined> => {
    try {
      return await table.get(taskId, owner);
    } catch (err) {
      if (isGatewayError(err) && err.code === 'UNKNOWN_CALL') return undefined;
      throw err;
    }
  };

  const get = async (request: JSONRPCRequest): Promise<Result> => {
    const call = await find(taskIdOf(request));
    if (call === undefined) throw rpcFailure(ProtocolErrorCode.InvalidParams, 'Failed to retrieve task: Task not found');
    // Per spec, tasks/get carries no related-task metadata: the taskId parameter names it.
    return { ...taskOf(call, ttlMs) };
  };

  const result = async (request: JSONRPCRequest, ctx: ServerContext): Promise<Result> => {
    const taskId = taskIdOf(request);
    let call = await find(taskId);
    if (call === undefined) throw rpcFailure(ProtocolErrorCode.InvalidParams, `Task not found: ${taskId}`);
    // Blocks until the call ends (or the agent cancels this request).
    while (!TERMINAL.has(call.state)) {
      if (ctx.mcpReq.signal.aborted) throw rpcFailure(ProtocolErrorCode.InvalidRequest, 'Request cancelled');
      call = await table.wait(taskId, owner, RESULT_WAIT_MS, ctx.mcpReq.signal);
    }
    const outcome = shown(call.server, resultOf(call));
    return { ...outcome, _meta: { ...outcome._meta, [RELATED_TASK_META_KEY]: { taskId } } };
  };

  const list = async (): Promise<Result> => {
    const calls = await table.list(owner, 100);
    return { tasks: calls.map((c) => taskOf(c, ttlMs)), _meta: {} };
  };

  const cancel = async (request: JSONRPCRequest): Promise<Result> => {
    const taskId = taskIdOf(request);
    const call = await find(taskId);
    if (call === undefined) throw rpcFailure(ProtocolErrorCode.InvalidParams, `Task not found: ${taskId}`);
    if (TERMINAL.has(call.state)) throw rpcFailure(ProtocolErrorCode.InvalidParams, `Cannot cancel task in terminal status: ${taskOf(call, ttlMs).status}`);
    return { _meta: {}, ...taskOf(await table.cancel(taskId, owner), ttlMs) };
  };

  return (request, ctx) => {
    switch (request.method) {
      case 'tasks/get':
        return get(request);
      case 'tasks/result':
        return result(request, ctx);
      case 'tasks/list':
        return list();
      case 'tasks/cancel':
        return cancel(request);
      default:
        return undefined;
    }
  };
}
