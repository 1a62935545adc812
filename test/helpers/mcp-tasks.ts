import type { CallToolRequestParams, CallToolResult, Client, Task } from '@modelcontextprotocol/client';
import { z } from 'zod';

/*
 * MCP tasks of protocol 2025-11-25 from the client side. SDK v1 had them as
 * client.experimental.tasks (callToolStream, listTasks); SDK v2 removed that
 * side-channel and keeps the wire types, so tests speak the four requests
 * themselves: a task-augmented tools/call answers {task}, tasks/get tells
 * its status, tasks/result waits for its result.
 */

const Loose = z.looseObject({});

/** What callToolStream yielded, in order: taskCreated, taskStatus…, then result or error. */
export type TaskMessage =
  | { type: 'taskCreated'; task: Task }
  | { type: 'taskStatus'; task: Task }
  | { type: 'result'; result: CallToolResult }
  | { type: 'error'; error: unknown };

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** Calls a tool as a task and yields its messages as SDK v1's callToolStream did. */
export async function* callToolStream(client: Client, params: CallToolRequestParams, task: { ttl: number }): AsyncGenerator<TaskMessage> {
  let created: Task;
  try {
    const answer = await client.request({ method: 'tools/call', params: { ...params, task } }, Loose);
    created = (answer as { task: Task }).task;
  } catch (error) {
    yield { type: 'error', error };
    return;
  }
  yield { type: 'taskCreated', task: created };
  try {
    let current = created;
    while (!TERMINAL.has(current.status)) {
      await new Promise((resolve) => setTimeout(resolve, current.pollInterval ?? 100));
      current = (await client.request({ method: 'tasks/get', params: { taskId: created.taskId } }, Loose)) as unknown as Task;
      yield { type: 'taskStatus', task: current };
    }
    const result = await client.request({ method: 'tasks/result', params: { taskId: created.taskId } }, Loose);
    yield { type: 'result', result: result as unknown as CallToolResult };
  } catch (error) {
    yield { type: 'error', error };
  }
}

/** tasks/list. */
export async function listTasks(client: Client): Promise<{ tasks: Task[] }> {
  return (await client.request({ method: 'tasks/list', params: {} }, Loose)) as unknown as { tasks: Task[] };
}
