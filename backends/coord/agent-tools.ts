import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { CoordOptions } from './options.js';
import type { CoordLogger, CoordStore } from './store.js';
import { runTool } from './tool-result.js';

/** What every group of coordination tools needs. */
export interface ToolContext {
  store: CoordStore;
  options: CoordOptions;
  logger: CoordLogger | undefined;
}

/** Input fields that several tools share, with descriptions written for models. */
export const fields = {
  agentId: z.string().describe('Your agent id: a stable name such as "researcher" or "build-agent". Case-sensitive.'),
  channel: z
    .string()
    .optional()
    .describe('Channel (namespace) to act in. Default "default". Agents, messages, tasks and state of one channel are invisible in another.'),
};

const local = { openWorldHint: false } as const;

/** Registers mux_register, mux_deregister, mux_heartbeat and mux_discover. */
export function registerAgentTools(server: McpServer, { store, options, logger }: ToolContext): void {
  server.registerTool(
    'mux_register',
    {
      title: 'Register an agent',
      description:
        'Register yourself with the coordination server before sending or receiving messages or claiming tasks. ' +
        'Calling it again with the same agent_id replaces your role, capabilities, group, channel and webhook (your inbox is kept). ' +
        'Capabilities decide which tasks you can claim (a task with required_capability "x" goes only to agents listing "x"). ' +
        `Returns {agent, created, heartbeat_interval}; call mux_heartbeat about every heartbeat_interval seconds (${options.heartbeat_interval}) or you are reported stale after ${options.stale_threshold} s without any call.`,
      inputSchema: {
        agent_id: fields.agentId,
        role: z.string().describe('What you do, e.g. "research", "writing", "review". Others find you by it with mux_discover.'),
        capabilities: z.array(z.string()).optional().describe('Skills used for task matching, e.g. ["web-search", "analysis"]. Default none.'),
        group: z.string().optional().describe('Optional team name; mux_broadcast can target one group.'),
        channel: fields.channel,
        webhook_url: z
          .string()
          .optional()
          .describe('Optional http(s) URL that receives a small JSON POST ("doorbell", without the content) whenever a message arrives for you. Private addresses are refused unless the operator allows them.'),
      },
      annotations: { idempotentHint: true, ...local },
    },
    (args) => runTool('mux_register', logger, () => store.registerAgent(args)),
  );

  server.registerTool(
    'mux_deregister',
    {
      title: 'Deregister an agent',
      description:
        'Remove an agent from the directory when it stops working. Messages already in its inbox are kept and can be read after registering again. ' +
        'Succeeds even if the agent was not registered. Returns {agent_id, deregistered, pending_messages}.',
      inputSchema: { agent_id: fields.agentId },
      annotations: { idempotentHint: true, destructiveHint: false, ...local },
    },
    ({ agent_id }) => runTool('mux_deregister', logger, () => store.deregisterAgent(agent_id)),
  );

  server.registerTool(
    'mux_heartbeat',
    {
      title: 'Heartbeat',
      description:
        'Tell the coordination server you are still alive, so mux_discover keeps reporting you as active. ' +
        'Polling, sending, claiming and completing count as heartbeats too; call this when you are busy with none of them. ' +
        'Returns your agent record. Fails with UNKNOWN_AGENT if you are not registered (register again).',
      inputSchema: { agent_id: fields.agentId },
      annotations: { idempotentHint: true, ...local },
    },
    ({ agent_id }) => runTool('mux_heartbeat', logger, async () => ({ agent: await store.heartbeat(agent_id) })),
  );

  server.registerTool(
    'mux_discover',
    {
      title: 'Discover agents',
      description:
        'Find other agents in a channel to message or hand work to: filter by role, group, capability or status. ' +
        'Stale agents (no call within the stale threshold) are left out unless include_stale is true or status is "stale". ' +
        'Returns {agents: [{id, role, capabilities, group, channel, status, registered_at, last_heartbeat}]}.',
      inputSchema: {
        role: z.string().optional().describe('Only agents with this role.'),
        group: z.string().optional().describe('Only agents in this group.'),
        capability: z.string().optional().describe('Only agents that list this capability.'),
        status: z.enum(['active', 'stale']).optional().describe('Only active or only stale agents.'),
        channel: fields.channel,
        include_stale: z.boolean().optional().describe('Also list stale agents. Default false.'),
      },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_discover', logger, async () => ({ agents: await store.discoverAgents(args) })),
  );
}
