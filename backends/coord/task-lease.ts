import { CoordError } from './errors.js';
import type { CoordOptions } from './options.js';
import type { TaskRow } from './rows.js';
import type { Lease, RenewTaskInput } from './types.js';
import { ident, iso, position } from './validate.js';

/*
 * Renewing a task lease (mux_task_renew, or mux_heartbeat naming the task),
 * the same for both stores. A lease is (task, epoch, expiry); only the
 * claimer presenting the current epoch may push the expiry to
 * task_claim_timeout from now. A lease that already lapsed cannot be
 * renewed: the store re-queues lapsed claims before it checks, so the task
 * is pending (or claimed again, with a newer epoch) by then, and the answer
 * is the same CONFLICT that mux_task_complete gives.
 */

/** A renewal, checked. */
export function leaseRenewal(input: RenewTaskInput): { taskId: string; agentId: string; epoch: number } {
  const epoch = position(input.epoch, 'epoch');
  if (epoch === undefined) throw new CoordError('BAD_REQUEST', "Invalid request: 'epoch' is required (lease.epoch from mux_task_claim).");
  return { taskId: ident(input.task_id, 'task_id'), agentId: ident(input.agent_id, 'agent_id'), epoch };
}

/** Refuses renewing `task` unless `agentId` holds its current lease (epoch `epoch`). */
export function assertRenewableTask(task: TaskRow, agentId: string, epoch: number, options: CoordOptions): void {
  const taskId = task.id;
  const details = { task_id: taskId, status: task.status, claimed_by: task.claimed_by, epoch: task.epoch };
  if (task.status === 'complete' || task.status === 'failed') {
    throw new CoordError('CONFLICT', `Task ${taskId} is already ${task.status}; there is no lease to renew.`, details);
  }
  if (task.status === 'pending') {
    throw new CoordError(
      'CONFLICT',
      `Task ${taskId} is not claimed (its lease lapsed after ${options.task_claim_timeout} s and it went back to pending, or it was never claimed); its lease cannot be renewed. Drop this work or claim it again (mux_task_claim).`,
      details,
    );
  }
  if (task.claimed_by !== agentId) {
    throw new CoordError(
      'CONFLICT',
      `Task ${taskId} is claimed by '${task.claimed_by ?? '?'}', not '${agentId}'; only the claimer can renew its lease. Drop this work.`,
      details,
    );
  }
  if (epoch !== task.epoch) {
    throw new CoordError(
      'CONFLICT',
      `Lease epoch ${epoch} of task ${taskId} is stale (current epoch ${task.epoch}): the lease lapsed and the task was claimed again. Drop this work.`,
      details,
    );
  }
}

/** The lease a renewal answers. */
export function renewedLease(task: TaskRow, expires: number): Lease {
  return { task_id: task.id, epoch: task.epoch, expires_at: iso(expires) };
}

/** The data of a task_renewed event (the fields of task_claimed). */
export function renewedEvent(lease: Lease, agentId: string): Record<string, unknown> {
  return { task_id: lease.task_id, agent_id: agentId, epoch: lease.epoch, lease_expires_at: lease.expires_at };
}

/** The data of the task_requeued event of a task returned because its claimer deregistered (`returned`: the row after the update). */
export function returnedEvent(returned: TaskRow, claimer: string): Record<string, unknown> {
  return { task_id: returned.id, previous_claimer: claimer, epoch: returned.epoch, attempts: returned.attempts, reason: 'deregistered' };
}
