import type { Task } from '@modelcontextprotocol/client';
import type { AsyncCall } from '../store/dispatch-store.js';

/** How often an MCP client is told to poll a task (ms). */
export const POLL_INTERVAL_MS = 250;

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
