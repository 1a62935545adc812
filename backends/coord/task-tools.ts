import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { fields, type ToolContext } from './agent-tools.js';
import { runTool } from './tool-result.js';

const local = { openWorldHint: false } as const;
const statuses = ['pending', 'claimed', 'complete', 'failed'] as const;

/** Registers mux_task_post, mux_task_claim, mux_task_complete and mux_task_list. */
export function registerTaskTools(server: McpServer, { store, options, logger }: ToolContext): void {
  server.registerTool(
    'mux_task_post',
    {
      title: 'Post a task',
      description:
        'Put a unit of work on the channel\'s queue for another agent to claim. Higher priority is claimed first, then older tasks. ' +
        'With required_capability only agents listing that capability can claim it. Returns the task, with its id (status "pending").',
      inputSchema: {
        description: z.string().describe('What needs doing, specific enough for another agent to do it.'),
        posted_by: z.string().describe('Your agent id (or a name for whoever posts it).'),
        required_capability: z.string().optional().describe('Capability a claimer must have, e.g. "content-creation".'),
        priority: z.number().int().optional().describe('Higher is more urgent. Default 0.'),
        channel: fields.channel,
        metadata: z.record(z.string(), z.unknown()).optional().describe('Any JSON object the claimer needs (inputs, deadline, format).'),
      },
      annotations: local,
    },
    (args) => runTool('mux_task_post', logger, () => store.postTask(args)),
  );

  server.registerTool(
    'mux_task_claim',
    {
      title: 'Claim the next task',
      description:
        'Take the highest-priority, oldest pending task in the channel that you are capable of. Atomic: no other agent gets the same task. ' +
        `Returns {task, lease: {task_id, epoch, expires_at}}, or {task: null, reason} when nothing fits. Finish within ${options.task_claim_timeout} s ` +
        '(the lease) or the task goes back to the queue for someone else; then complete it with mux_task_complete, passing the lease epoch.',
      inputSchema: { agent_id: fields.agentId, channel: fields.channel },
      annotations: local,
    },
    (args) => runTool('mux_task_claim', logger, () => store.claimTask(args)),
  );

  server.registerTool(
    'mux_task_complete',
    {
      title: 'Complete or fail a task',
      description:
        'Finish a task you claimed: status "complete" (default) with a result summary, or status "failed" with what went wrong. ' +
        'Only the claimer can do this. Pass the epoch from your lease: if your lease lapsed and the task was claimed again, ' +
        'the call fails with CONFLICT and you should drop the work. Returns the updated task.',
      inputSchema: {
        task_id: z.string().describe('The task id from mux_task_claim.'),
        agent_id: fields.agentId,
        result: z.string().optional().describe('Result or summary (for "failed": the reason).'),
        status: z.enum(['complete', 'failed']).optional().describe('Default "complete".'),
        epoch: z.number().int().min(0).optional().describe('lease.epoch from your claim; protects against completing a task someone else now holds.'),
      },
      annotations: local,
    },
    (args) => runTool('mux_task_complete', logger, () => store.completeTask(args)),
  );

  server.registerTool(
    'mux_task_list',
    {
      title: 'List tasks',
      description:
        'See the tasks of a channel, optionally only one status (pending, claimed, complete, failed) or one claimer. ' +
        'Pending tasks are listed in claim order, others newest first. Returns {tasks}.',
      inputSchema: {
        status: z.enum(statuses).optional().describe('Only tasks in this state.'),
        channel: fields.channel,
        claimed_by: z.string().optional().describe('Only tasks claimed by this agent.'),
        limit: z.number().int().min(1).optional().describe('At most this many (default 100).'),
      },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_task_list', logger, async () => ({ tasks: await store.listTasks(args) })),
  );
}
