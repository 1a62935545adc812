import type { CallToolResult, Result } from '@modelcontextprotocol/server';
import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { GatewayError, rpcFailure } from '../errors.js';
import { BACKEND_TASK_META_KEY } from '../pool/backend-client.js';
import { declaringTasks } from '../router/backend-task.js';
import { openText, sealText } from '../store/secret-key.js';
import { loadKey } from './request-state.js';
import type { SessionServerSources } from './session-server.js';
import type { View } from './view.js';

/*
 * [mcp-ext] A 2026-07-28 backend's own task, handed to a 2026-07-28 caller
 * that declared the Tasks extension (SEP-2663), instead of being polled by
 * the gateway (router/backend-task.ts does that for every other caller).
 * This is what lets a tool that gathers input round by round and then
 * escalates to a task on its last round (the extension's MRTR → task
 * composition) answer the caller with that task.
 *
 * The caller gets the backend's CreateTaskResult with the task id
 * replaced by a gateway id: the backend, the backend's id and the caller
 * sealed with AES-256-GCM under the gateway's requestState key
 * (data_dir/request-state.key, request-state.ts). So the gateway keeps
 * nothing per task, a gateway restart loses nothing (the task lives on the
 * backend), the id is not guessable, and only its caller can use it: with
 * auth, the token's name is in the seal, and another token's tasks/get,
 * tasks/update or tasks/cancel is answered exactly as an unknown id.
 * Those three are forwarded to the backend (through its breaker and pool,
 * declaring the extension as every request of it must), and the backend's
 * answer comes back with the gateway's id in place of its own.
 */

const PREFIX = 'btask1.';
const Loose = z.looseObject({});

interface Sealed {
  /** The backend. */
  s: string;
  /** The backend's task id. */
  t: string;
  /** The owner (token name), '' without auth. */
  o: string;
}

type Sources = Pick<SessionServerSources, 'config' | 'router'>;

const keys = new Map<string, Buffer>();

function keyOf(gateway: Sources): Buffer {
  const dir = gateway.config.server.dataDir;
  let key = keys.get(dir);
  if (key === undefined) {
    key = loadKey(dir);
    keys.set(dir, key);
  }
  return key;
}

/** Whether a task id is one of a relayed backend task (else: the dispatch table's). */
export function isRelayedTask(taskId: string): boolean {
  return taskId.startsWith(PREFIX);
}

/**
 * The CreateTaskResult a caller gets for a call its backend answered with a
 * task (the router hands it over under BACKEND_TASK_META_KEY when the
 * caller takes tasks); undefined for any other result.
 */
export function relayedTaskResult(gateway: Sources, view: View, server: string, result: CallToolResult): Result | undefined {
  const task = result._meta?.[BACKEND_TASK_META_KEY] as Record<string, unknown> | undefined;
  if (task === undefined || typeof task.taskId !== 'string') return undefined;
  const sealed: Sealed = { s: server, t: task.taskId, o: view.owner ?? '' };
  const { _meta: _backend, requestState: _state, inputRequests: _asked, ...fields } = task;
  return { ...fields, resultType: 'task', taskId: sealText(keyOf(gateway), PREFIX, JSON.stringify(sealed)) };
}

/** tasks/get, tasks/update or tasks/cancel of a relayed task, forwarded to its backend; -32602 "not found" for an id that is not the caller's. */
export async function relayedTaskMethod(
  gateway: Sources,
  view: View,
  method: string,
  taskId: string,
  inputResponses: Record<string, unknown> | undefined,
): Promise<Result> {
  const text = taskId.length > 2048 ? undefined : openText(keyOf(gateway), PREFIX, taskId);
  const sealed = text === undefined ? undefined : (JSON.parse(text) as Sealed);
  if (sealed === undefined || sealed.o !== (view.owner ?? '') || (view.servers !== undefined && !view.servers.has(sealed.s))) {
    throw rpcFailure(ProtocolErrorCode.InvalidParams, 'Failed to retrieve task: Task not found');
  }
  const params = declaringTasks({ taskId: sealed.t, ...(inputResponses === undefined ? {} : { inputResponses }) });
  let answer: Record<string, unknown>;
  try {
    answer = await gateway.router.forward(sealed.s, method, (connection, options) => connection.client.request({ method, params }, Loose, options));
  } catch (err) {
    // The backend's own JSON-RPC error (an expired task: -32602) reaches the caller as it sent it.
    const cause = err instanceof GatewayError ? err.cause : undefined;
    if (cause instanceof ProtocolError) throw rpcFailure(cause.code, cause.message.replace(/^MCP error -?\d+: /, ''), cause.data);
    throw err;
  }
  const { _meta: _backend, ...fields } = answer;
  return 'taskId' in fields ? { ...fields, taskId } : fields;
}
