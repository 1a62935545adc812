import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import { CLIENT_CAPABILITIES_META_KEY, ProtocolError } from '@modelcontextprotocol/client';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { BACKEND_TASK_META_KEY } from '../pool/backend-client.js';
import type { Connection } from '../pool/connection.js';
import { NO_SDK_TIMEOUT } from './deadline.js';

/*
 * [mcp-ext] A backend tool whose own task support is `required` cannot run
 * as a plain call: the backend refuses a tools/call without a task. The
 * router runs such a call as a task on the backend, in the backend's era,
 * and answers the caller with the task's final result, as if the call had
 * been plain:
 *
 * - 2025-11-25 (`capabilities.tasks.requests.tools.call`): tools/call with
 *   `params.task` (ttl), answered by a CreateTaskResult; tasks/get is
 *   polled at the task's pollInterval until it is terminal (or
 *   `input_required`), then tasks/result gives the result — a v1 SDK
 *   server sends a task's input requests (elicitation) while tasks/result
 *   is open, and they reach the caller as any request of the backend's
 *   during a call does (pool/client-requests.ts).
 * - 2026-07-28 (`capabilities.extensions["io.modelcontextprotocol/tasks"]`):
 *   the request declares the Tasks extension, the backend answers
 *   `resultType: "task"`, and tasks/get is polled at pollIntervalMs until
 *   the task is `completed` (its `result` inline) or `failed` (its `error`).
 *
 * Every status the backend reports goes to `onstatus` (the router turns it
 * into progress for a caller that asked for it, and so into the
 * statusMessage of the gateway's own async task). The polling is bounded by
 * the call's deadline (its signal); when the signal aborts — the caller
 * cancelled, or the deadline expired — the backend's task is cancelled
 * (tasks/cancel) and the outcome logged.
 */

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
const RELATED_TASK_META_KEY = 'io.modelcontextprotocol/related-task';
/** The pause between two tasks/get when the backend suggests none. */
const DEFAULT_POLL_MS = 1000;
/** The shortest pause between two tasks/get, whatever the backend suggests (0 would poll it in a loop). */
const MIN_POLL_MS = 10;
/** How long the gateway waits for a backend's answer to tasks/cancel (the call has already ended). */
const CANCEL_TIMEOUT_MS = 10_000;

const Loose = z.looseObject({});
const TaskShape = z.looseObject({
  taskId: z.string(),
  status: z.string(),
  statusMessage: z.string().optional(),
  pollInterval: z.number().optional(),
  pollIntervalMs: z.number().optional(),
});
type BackendTask = z.infer<typeof TaskShape>;

/** How a backend runs its own tasks, when a call must become one. */
export type BackendTaskEra = 'legacy' | 'modern';

/** A status of a backend's task, as the router passes it on. */
export interface BackendTaskStatus {
  taskId: string;
  status: string;
  statusMessage?: string;
}

/**
 * The way a call of a tool must run as a task on this connection's
 * backend: only for a tool whose `execution.taskSupport` is `required`, and
 * only when the backend says it serves tasks for tools/call in its era.
 * Undefined for every other call (it runs plain, as before).
 */
export function backendTaskEra(connection: Pick<Connection, 'client' | 'era'>, taskSupport: string | undefined): BackendTaskEra | undefined {
  if (taskSupport !== 'required') return undefined;
  const capabilities = connection.client.getServerCapabilities() as Record<string, unknown> | undefined;
  if (connection.era === 'modern') {
    const extensions = capabilities?.extensions as Record<string, unknown> | undefined;
    return extensions?.[TASKS_EXTENSION] === undefined ? undefined : 'modern';
  }
  const tasks = capabilities?.tasks as { requests?: { tools?: { call?: unknown } } } | undefined;
  return tasks?.requests?.tools?.call === undefined ? undefined : 'legacy';
}

/**
 * Whether a 2026-07-28 backend that serves the Tasks extension refused a
 * plain tools/call for want of it (-32021 naming the extension in
 * `data.requiredCapabilities`): the era's tool listings carry no
 * taskSupport, so this refusal is how a tool that requires a task shows.
 */
export function refusedWithoutTask(err: unknown, connection: Pick<Connection, 'client' | 'era'>): boolean {
  if (connection.era !== 'modern' || !(err instanceof ProtocolError) || err.code !== -32021) return false;
  const required = (err.data as { requiredCapabilities?: { extensions?: Record<string, unknown> } } | undefined)?.requiredCapabilities;
  if (required?.extensions?.[TASKS_EXTENSION] === undefined) return false;
  const extensions = (connection.client.getServerCapabilities() as Record<string, unknown> | undefined)?.extensions as Record<string, unknown> | undefined;
  return extensions?.[TASKS_EXTENSION] !== undefined;
}

/** One call to run as a task on its backend. */
export interface BackendTaskCall {
  client: Client;
  era: BackendTaskEra;
  /** The tools/call params as the router sends a plain call (paramsFor). */
  params: Record<string, unknown>;
  /** The call's deadline with the caller's cancel. */
  signal: AbortSignal;
  /** The task's time to live asked of a 2025 backend, in ms (the call's longest run). */
  ttl: number;
  headers?: Record<string, string> | undefined;
  onstatus: (status: BackendTaskStatus) => void;
  /** [mcp-ext] Hand the backend's task to the caller (a 2026-07-28 caller that declared the extension, mcp/relayed-task.ts) instead of polling it. */
  relay?: boolean;
  /** Puts one input request of a 2026-07-28 backend's task to the caller (input-rounds.ts answer); rejects when it cannot be asked. */
  ask?: (method: string, params: Record<string, unknown> | undefined) => Promise<unknown>;
  server: string;
  tool: string;
  logger: Logger;
}

/** Runs a call as a task on its backend and answers with the task's final result (see above). */
export async function callAsBackendTask(call: BackendTaskCall): Promise<CallToolResult> {
  const { client, era, signal } = call;
  const options = { signal, timeout: NO_SDK_TIMEOUT };
  const params = era === 'legacy' ? { ...call.params, task: { ttl: call.ttl } } : declaringTasks(call.params);
  const created = await client.request({ method: 'tools/call', params }, Loose, {
    ...options,
    allowInputRequired: true,
    ...(call.headers === undefined ? {} : { headers: call.headers }),
  });
  // A backend may run the call at once after all (no task in its answer): that answer is the result.
  const first = era === 'legacy' ? (created as { task?: unknown }).task : (created._meta as Record<string, unknown> | undefined)?.[BACKEND_TASK_META_KEY];
  const parsed = TaskShape.safeParse(first);
  if (!parsed.success) return created as CallToolResult;
  if (call.relay === true) return created as CallToolResult;
  let task: BackendTask = parsed.data;
  try {
    let reported = '';
    const answered = new Set<string>();
    for (;;) {
      const said = `${task.status}\u0000${task.statusMessage ?? ''}`;
      if (said !== reported) {
        reported = said;
        call.onstatus({ taskId: task.taskId, status: task.status, ...(task.statusMessage === undefined ? {} : { statusMessage: task.statusMessage }) });
      }
      if (isTerminal(task.status) || (era === 'legacy' && task.status === 'input_required')) break;
      if (task.status === 'input_required') await relayInput(call, task, answered);
      await pause(Math.max(MIN_POLL_MS, task.pollIntervalMs ?? task.pollInterval ?? DEFAULT_POLL_MS), signal);
      task = TaskShape.parse(await client.request({ method: 'tasks/get', params: taskParams(era, task.taskId) }, Loose, options));
    }
    return era === 'legacy' ? await legacyResult(call, task, options) : modernResult(call, task);
  } catch (err) {
    if (signal.aborted) void cancel(call, task.taskId);
    throw err;
  }
}

/** A 2026-07-28 call's params with the Tasks extension declared in its clientCapabilities (the gateway polls the task itself). */
export function declaringTasks(params: Record<string, unknown>): Record<string, unknown> {
  const meta = (params._meta ?? {}) as Record<string, unknown>;
  const capabilities = (meta[CLIENT_CAPABILITIES_META_KEY] ?? {}) as Record<string, unknown>;
  const extensions = (capabilities.extensions ?? {}) as Record<string, unknown>;
  return {
    ...params,
    _meta: { ...meta, [CLIENT_CAPABILITIES_META_KEY]: { ...capabilities, extensions: { ...extensions, [TASKS_EXTENSION]: {} } } },
  };
}

/** The params of tasks/get and tasks/cancel: a 2026-07-28 one declares the extension too, as every request of it must. */
function taskParams(era: BackendTaskEra, taskId: string): Record<string, unknown> {
  return era === 'legacy' ? { taskId } : declaringTasks({ taskId });
}

function isTerminal(status: string): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** tasks/result of a 2025 backend's task: the tool's result, less the related-task `_meta` the backend adds for its own client. */
async function legacyResult(call: BackendTaskCall, task: BackendTask, options: { signal: AbortSignal; timeout: number }): Promise<CallToolResult> {
  if (task.status === 'cancelled') throw ended(call, task);
  let result: Record<string, unknown>;
  try {
    result = await call.client.request({ method: 'tasks/result', params: { taskId: task.taskId } }, Loose, options);
  } catch (err) {
    // A failed task without a stored result: the backend's statusMessage says why.
    if (task.status === 'failed' && !call.signal.aborted) throw ended(call, task);
    throw err;
  }
  const meta = result._meta as Record<string, unknown> | undefined;
  if (meta === undefined || !(RELATED_TASK_META_KEY in meta)) return result as CallToolResult;
  const { [RELATED_TASK_META_KEY]: _related, ...rest } = meta;
  const { _meta: _old, ...plain } = result;
  return (Object.keys(rest).length === 0 ? plain : { ...plain, _meta: rest }) as CallToolResult;
}

/** The final answer of a 2026-07-28 backend's task: its inline result, or its error as the backend's error. */
function modernResult(call: BackendTaskCall, task: BackendTask): CallToolResult {
  const result = (task as { result?: unknown }).result;
  if (task.status === 'completed' && result !== null && typeof result === 'object') return result as CallToolResult;
  const error = (task as { error?: { code?: unknown; message?: unknown } }).error;
  if (task.status === 'failed' && error !== undefined) {
    throw new GatewayError('BACKEND_ERROR', `Backend '${call.server}' answered ${call.tool} with error ${String(error.code)}: ${String(error.message)}`, {
      details: { backend_code: error.code, backend_task: task.taskId },
    });
  }
  throw ended(call, task);
}

function ended(call: BackendTaskCall, task: BackendTask): GatewayError {
  const why = task.statusMessage === undefined ? '' : `: ${task.statusMessage}`;
  return new GatewayError('BACKEND_ERROR', `Backend '${call.server}' ended its task for ${call.tool} as ${task.status}${why}`, {
    details: { backend_task: task.taskId, backend_status: task.status },
  });
}

/**
 * A 2026-07-28 backend's task that waits for input (`input_required`, its
 * `inputRequests`): each request not answered yet goes to the caller as a
 * 2025 backend's request during a call does (to a 2025 session that can
 * take it; a 2026-07-28 caller's task of the gateway's parks it for
 * tasks/update, dispatch/task-input.ts), and the answers go back by
 * tasks/update; the next tasks/get shows where the task went. A caller that
 * cannot be asked: the task is cancelled and the call fails.
 */
async function relayInput(call: BackendTaskCall, task: BackendTask, answered: Set<string>): Promise<void> {
  const requests = (task as { inputRequests?: Record<string, { method?: unknown; params?: unknown }> }).inputRequests ?? {};
  const asked = Object.entries(requests).filter(([key]) => !answered.has(key));
  if (asked.length === 0) return; // answered already; the backend has not moved on yet
  try {
    if (call.ask === undefined) throw new Error('no caller to ask');
    const ask = call.ask;
    const answers = await Promise.all(asked.map(([, r]) => ask(String(r.method), r.params as Record<string, unknown> | undefined)));
    for (const [key] of asked) answered.add(key);
    const inputResponses = Object.fromEntries(asked.map(([key], i) => [key, answers[i]]));
    await call.client.request({ method: 'tasks/update', params: declaringTasks({ taskId: task.taskId, inputResponses }) }, Loose, {
      signal: call.signal,
      timeout: NO_SDK_TIMEOUT,
    });
  } catch (err) {
    if (call.signal.aborted) throw err;
    void cancel(call, task.taskId);
    throw new GatewayError(
      'BACKEND_ERROR',
      `Backend '${call.server}' asked for input inside its task for ${call.tool} (input_required), and it could not be answered, so the task was cancelled: ${err instanceof Error ? err.message : String(err)}`,
      { details: { backend_task: task.taskId, backend_status: task.status } },
    );
  }
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const done = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', done);
      resolve();
    }, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Cancels a backend's task whose call ended early (cancelled, timed out); logs what the backend said. */
async function cancel(call: BackendTaskCall, taskId: string): Promise<void> {
  const log = call.logger.child({ backend: call.server, tool: call.tool, backend_task: taskId });
  try {
    const answer = await call.client.request({ method: 'tasks/cancel', params: taskParams(call.era, taskId) }, Loose, { timeout: CANCEL_TIMEOUT_MS });
    log.info({ status: typeof answer.status === 'string' ? answer.status : null }, 'backend task cancelled');
  } catch (err) {
    log.warn({ error: err instanceof Error ? err.message : String(err) }, 'backend task could not be cancelled');
  }
}

/**
 * What the router does with a backend task's status: progress for a caller
 * that asked for it (a count of the statuses seen, the message `status:
 * statusMessage`), which also extends the deadline as progress does.
 */
export function backendTaskStatus(
  onprogress: ((progress: { progress: number; message?: string }) => void) | undefined,
  deadline: { extend(): void },
): (status: BackendTaskStatus) => void {
  let seen = 0;
  return (status) => {
    if (onprogress === undefined) return;
    deadline.extend();
    seen += 1;
    onprogress({ progress: seen, message: status.statusMessage === undefined ? status.status : `${status.status}: ${status.statusMessage}` });
  };
}

/**
 * A backend's task that nobody asked for (the gateway declares the Tasks
 * extension only when it runs a task itself, and a caller's declaration is
 * never passed on): the backend broke the extension's rule, and its empty
 * stand-in result (pool/backend-client.ts) must not pass for the answer.
 */
export function refuseUnaskedTask(result: { _meta?: Record<string, unknown> }, server: string, tool: string): void {
  if (result._meta?.[BACKEND_TASK_META_KEY] === undefined) return;
  throw new GatewayError(
    'BACKEND_ERROR',
    `Backend '${server}' answered ${tool} with a task (resultType "task") although the call did not declare the Tasks extension; the backend breaks the extension's rule`,
  );
}
