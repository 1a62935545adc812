import { type CoordOperation, operation } from './operation.js';
import type { CoordOptions } from './options.js';
import { ClaimTaskInputSchema, CompleteTaskInputSchema, PostTaskInputSchema, RenewTaskInputSchema, TaskListQuerySchema } from './schemas/task.js';

const local = { openWorldHint: false } as const;

/** The operations mux_task_post, mux_task_claim, mux_task_renew, mux_task_complete and mux_task_list. */
export function taskTools(options: CoordOptions): CoordOperation[] {
  return [
    operation({
      name: 'mux_task_post',
      route: 'POST /task/post',
      title: 'Post a task',
      description:
        "Put a unit of work on the channel's queue for another agent to claim. Higher priority is claimed first, then older tasks. " +
        'With required_capability only agents listing that capability can claim it. Returns the task, with its id (status "pending").',
      input: PostTaskInputSchema,
      annotations: local,
      run: (args, { store }) => store.postTask(args),
    }),
    operation({
      name: 'mux_task_claim',
      route: 'POST /task/claim',
      title: 'Claim the next task',
      description:
        'Take the highest-priority, oldest pending task in the channel that you are capable of. Atomic: no other agent gets the same task. ' +
        `Returns {task, lease: {task_id, epoch, expires_at}}, or {task: null, reason} when nothing fits. Finish within ${options.task_claim_timeout} s ` +
        '(the lease; extend it with mux_task_renew) or the task goes back to the queue for someone else; then complete it with mux_task_complete, passing the lease epoch.',
      input: ClaimTaskInputSchema,
      annotations: local,
      run: (args, { store }) => store.claimTask(args),
    }),
    operation({
      name: 'mux_task_renew',
      route: 'POST /task/renew',
      title: 'Renew a task lease',
      description:
        `Keep a task you are still working on: its lease runs ${options.task_claim_timeout} s from now again. ` +
        'Only the claimer, with the epoch from its lease. Returns {lease: {task_id, epoch, expires_at}}; CONFLICT means the lease was lost: drop the work.',
      input: RenewTaskInputSchema,
      annotations: { idempotentHint: true, ...local },
      run: async (args, { store }) => ({ lease: await store.renewTask(args) }),
    }),
    operation({
      name: 'mux_task_complete',
      route: 'POST /task/complete',
      title: 'Complete or fail a task',
      description:
        'Finish a task you claimed: status "complete" (default) with a result summary, or status "failed" with what went wrong. ' +
        'Only the claimer can do this. Pass the epoch from your lease: if your lease lapsed and the task was claimed again, ' +
        'the call fails with CONFLICT and you should drop the work. Returns the updated task.',
      input: CompleteTaskInputSchema,
      annotations: local,
      run: (args, { store }) => store.completeTask(args),
    }),
    operation({
      name: 'mux_task_list',
      route: 'GET /task/list',
      title: 'List tasks',
      description:
        'See the tasks of a channel, optionally only one status (pending, claimed, complete, failed) or one claimer. ' +
        'Pending tasks are listed in claim order, others newest first. Returns {tasks}.',
      input: TaskListQuerySchema,
      annotations: { readOnlyHint: true, ...local },
      run: async (args, { store }) => ({ tasks: await store.listTasks(args) }),
    }),
  ];
}
