import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import { isGatewayError } from '../errors.js';
import type { AsyncCall } from '../store/dispatch-store.js';
import type { DispatchTable } from './table.js';

/** How often an MCP client is told to poll a task (ms). */
const POLL_INTERVAL_MS = 250;

const STATUS: Record<AsyncCall['state'], Task['status']> = {
  pending: 'working',
  running: 'working',
  complete: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** An async call as an MCP task (protocol 2025-11-25). */
export function taskOf(call: AsyncCall, ttlMs: number): Task {
  const task: Task = {
    taskId: call.id,
    status: STATUS[call.state],
    ttl: ttlMs,
    createdAt: call.submitted_at,
    lastUpdatedAt: call.finished_at ?? call.started_at ?? call.submitted_at,
    pollInterval: POLL_INTERVAL_MS,
  };
  if (call.error !== null) task.statusMessage = `${call.error.code}: ${call.error.message}`;
  return task;
}

/**
 * The SDK's task store, served from the dispatch table: tasks/get,
 * tasks/result, tasks/list and tasks/cancel read the same calls (and the
 * same data_dir database) as gate_poll and GET /call/{id}. Tasks are made
 * by the gateway's tools/call handler through DispatchTable.submit, so the
 * SDK's own create and store paths are not used.
 */
export class DispatchTaskStore implements TaskStore {
  readonly #table: DispatchTable;
  readonly #ttlMs: number;
  readonly #owner: string | null;

  constructor(table: DispatchTable, ttlSeconds: number, owner: string | null) {
    this.#table = table;
    this.#ttlMs = ttlSeconds * 1000;
    this.#owner = owner;
  }

  async createTask(_options: CreateTaskOptions, _requestId: RequestId, request: Request): Promise<Task> {
    throw new Error(`stonegate creates tasks in its tools/call handler; ${request.method} cannot make one here`);
  }

  async getTask(taskId: string): Promise<Task | null> {
    const call = await this.#find(taskId);
    return call === undefined ? null : taskOf(call, this.#ttlMs);
  }

  async storeTaskResult(): Promise<void> {
    throw new Error('stonegate stores task results in its dispatch table');
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const call = await this.#find(taskId);
    if (call === undefined) throw new Error(`Task not found: ${taskId}`);
    if (call.result !== null) return call.result;
    const error = call.error ?? { code: 'INTERNAL', message: 'The call ended without a result' };
    return { content: [{ type: 'text', text: `${error.code}: ${error.message}` }], isError: true, _meta: { 'stonegate/error': { code: error.code } } };
  }

  async updateTaskStatus(taskId: string, status: Task['status']): Promise<void> {
    if (status === 'cancelled') await this.#table.cancel(taskId, this.#owner);
  }

  async listTasks(): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const calls = await this.#table.list(this.#owner, 100);
    return { tasks: calls.map((c) => taskOf(c, this.#ttlMs)) };
  }

  async #find(taskId: string): Promise<AsyncCall | undefined> {
    try {
      return await this.#table.get(taskId, this.#owner);
    } catch (err) {
      if (isGatewayError(err) && err.code === 'UNKNOWN_CALL') return undefined;
      throw err;
    }
  }
}
