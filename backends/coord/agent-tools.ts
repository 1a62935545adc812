import { groupCounts, waitForPeers } from './agent-state.js';
import { type CoordOperation, operation, waitMs } from './operation.js';
import type { CoordOptions } from './options.js';
import {
  AgentRefSchema,
  DiscoverQuerySchema,
  GroupsQuerySchema,
  HeartbeatInputSchema,
  RegisterAgentInputSchema,
  SetAgentStateInputSchema,
  WaitForPeersInputSchema,
} from './schemas/agent.js';

const local = { openWorldHint: false } as const;

/** The operations mux_register, mux_deregister, mux_heartbeat, mux_discover, mux_agent_state, mux_wait_for_peers and mux_groups. */
export function agentTools(options: CoordOptions): CoordOperation[] {
  return [
    operation({
      name: 'mux_register',
      route: 'POST /agent/register',
      title: 'Register an agent',
      description:
        'Join the coordination (needed before messaging or claiming); again with the same agent_id updates your record, inbox kept. ' +
        `Returns {agent, created, heartbeat_interval, peers} (peers: the other active agents of the channel, with their states). Call something (or mux_heartbeat) every ${options.heartbeat_interval} s: after ${options.stale_threshold} s without a call you show as stale.`,
      input: RegisterAgentInputSchema,
      annotations: { idempotentHint: true, ...local },
      run: async (args, { store }) => {
        const registered = await store.registerAgent(args);
        const { agent } = registered;
        const peers = (await store.discoverAgents({ channel: agent.channel })).filter((peer) => peer.id !== agent.id);
        return { ...registered, peers };
      },
    }),
    operation({
      name: 'mux_deregister',
      route: 'POST /agent/deregister',
      title: 'Deregister an agent',
      description:
        'Remove an agent from the directory when it stops working: its work claims are released and its claimed tasks go back to the queue at once. ' +
        'Messages already in its inbox are kept and can be read after registering again. ' +
        'Succeeds even if the agent was not registered. Returns {agent_id, deregistered, pending_messages, released_claims, returned_tasks}.',
      input: AgentRefSchema,
      annotations: { idempotentHint: true, destructiveHint: false, ...local },
      run: ({ agent_id }, { store }) => store.deregisterAgent(agent_id),
    }),
    operation({
      name: 'mux_heartbeat',
      route: 'POST /agent/heartbeat',
      title: 'Heartbeat',
      description:
        'Stay reported as active while you make no other call (any call naming you counts). With task_id and epoch it also renews that task lease (as mux_task_renew). ' +
        'Returns {agent} (and {lease} with task_id); UNKNOWN_AGENT means register again.',
      input: HeartbeatInputSchema,
      annotations: { idempotentHint: true, ...local },
      run: async ({ agent_id, task_id, epoch }, { store }) => {
        const agent = await store.heartbeat(agent_id);
        if (task_id === undefined || epoch === undefined) return { agent };
        return { agent, lease: await store.renewTask({ task_id, agent_id, epoch }) };
      },
    }),
    operation({
      name: 'mux_discover',
      route: 'GET /agent/discover',
      title: 'Discover agents',
      description:
        'Find other agents in a channel to message or hand work to: filter by role, group, capability or status. ' +
        'Stale agents (no call within the stale threshold) are left out unless include_stale is true or status is "stale". ' +
        'Returns {agents: [{id, role, capabilities, group, channel, status, registered_at, last_heartbeat}]}.',
      input: DiscoverQuerySchema,
      annotations: { readOnlyHint: true, ...local },
      run: async (args, { store }) => ({ agents: await store.discoverAgents(args) }),
    }),
    operation({
      name: 'mux_agent_state',
      route: 'POST /agent/state',
      title: 'Say what you are doing',
      description:
        'Tell your peers your state: working, idle, waiting (waiting_for: on what) or blocked, and optionally the file and thread you are in now. ' +
        'Others see it in mux_discover, mux_groups and mux_wait_for_peers. Returns {agent}.',
      input: SetAgentStateInputSchema,
      annotations: { idempotentHint: true, ...local },
      run: async (args, { store }) => ({ agent: await store.setAgentState(args) }),
    }),
    operation({
      name: 'mux_wait_for_peers',
      route: 'POST /agent/wait',
      title: 'Wait for peers',
      description:
        'Block until every named agent (agents) or every member of a group is in a state (e.g. all idle before you merge), or until timeout seconds. ' +
        'Returns {reached, state, peers, pending}: pending names the peers not there yet.',
      input: WaitForPeersInputSchema,
      annotations: { readOnlyHint: true, ...local },
      run: (args, call) => waitForPeers(call.store, args, waitMs(args.timeout, call) ?? 30_000, options, call.signal),
    }),
    operation({
      name: 'mux_groups',
      route: 'GET /agent/groups',
      title: 'List groups',
      description:
        'The groups of a channel with how many agents each has, by state, and their ids. Returns {channel, groups: [{group, agents, states, members}]}.',
      input: GroupsQuerySchema,
      annotations: { readOnlyHint: true, ...local },
      run: (args, { store }) => groupCounts(store, args),
    }),
  ];
}
