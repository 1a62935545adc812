import { withinLimit } from './limits.js';
import type { CoordOptions } from './options.js';
import type { CoordStore } from './store.js';
import type { Agent, AgentState, GroupsQuery, SetAgentStateInput, WaitForPeersInput } from './types.js';
import { channelName, ident, pollTimeoutMs } from './validate.js';

/*
 * Agent states (working / idle / waiting / blocked), engine-independent: the
 * checked write both stores make, waiting for peers to reach a state, and
 * the group counts. A state is a column of the agent's row (schema 6), so
 * discovery and status show it and deregistering forgets it; each change is
 * an `agent_state` event, which is what a wait wakes on.
 */

/** A state write as both stores apply it. */
export interface StateWrite {
  id: string;
  state: AgentState;
  waiting_for: string | null;
  current_file: string | null;
  current_thread: string | null;
}

/** A free-text note (waiting_for, current_file, current_thread): trimmed, NFC, within max_intent_length; blank is none. */
function noteText(value: string | null | undefined, field: string, options: CoordOptions): string | null {
  if (value === undefined || value === null) return null;
  const text = value.trim().normalize('NFC');
  if (text === '') return null;
  withinLimit(field, text.length, 'max_intent_length', options);
  return text;
}

/** The checked write of mux_agent_state. waiting_for is kept only while waiting or blocked (working and idle wait for nothing). */
export function stateWrite(input: SetAgentStateInput, options: CoordOptions): StateWrite {
  const waits = input.state === 'waiting' || input.state === 'blocked';
  return {
    id: ident(input.agent_id, 'agent_id'),
    state: input.state,
    waiting_for: waits ? noteText(input.waiting_for, 'waiting_for', options) : null,
    current_file: noteText(input.current_file, 'current_file', options),
    current_thread: noteText(input.current_thread, 'current_thread', options),
  };
}

/** The data of an agent_state event. */
export function stateEvent(write: StateWrite): Record<string, unknown> {
  const { id, ...rest } = write;
  return { agent_id: id, ...rest };
}

/** What mux_wait_for_peers answers. */
export interface PeerWait {
  /** True when every peer was in the state (and, for a group, the group had a member besides the caller). */
  reached: boolean;
  state: AgentState;
  /** The peers as they were at the answer (registered ones; stale ones included). */
  peers: Array<Pick<Agent, 'id' | 'state' | 'waiting_for' | 'current_file' | 'status'>>;
  /** Peers not in the state yet; a named peer that is not registered in the channel is here too. */
  pending: string[];
}

function peersNow(all: readonly Agent[], input: WaitForPeersInput): PeerWait {
  const named = input.agents?.map((a) => ident(a, 'agents'));
  const chosen =
    named !== undefined ? all.filter((a) => named.includes(a.id)) : all.filter((a) => a.group === input.group?.normalize('NFC') && a.id !== input.agent_id);
  const missing = named?.filter((id) => !chosen.some((a) => a.id === id)) ?? [];
  const pending = [...chosen.filter((a) => a.state !== input.state).map((a) => a.id), ...missing];
  const peers = chosen.map(({ id, state, waiting_for, current_file, status }) => ({ id, state, waiting_for, current_file, status }));
  return { reached: pending.length === 0 && chosen.length > 0, state: input.state, peers, pending };
}

/**
 * Waits until every peer is in `input.state`, or the timeout. No loop of
 * reads: between checks it long-polls the store's event stream from the
 * newest event id (taken before the check, so a change committed during it
 * still wakes the wait), and checks again only when the channel has a new
 * event; on PostgreSQL that wake-up comes from any gateway.
 */
export async function waitForPeers(
  store: CoordStore,
  input: WaitForPeersInput,
  timeoutMs: number,
  options: CoordOptions,
  signal: AbortSignal,
): Promise<PeerWait> {
  const channel = channelName(input.channel);
  if (input.group !== undefined) ident(input.group, 'group');
  const deadline = Date.now() + pollTimeoutMs(timeoutMs, options);
  let after = (await store.events({ after: Number.MAX_SAFE_INTEGER, limit: 1, timeout_ms: 0 })).last_id;
  for (;;) {
    const now = peersNow(await store.discoverAgents({ channel, include_stale: true }), input);
    const remaining = deadline - Date.now();
    if (now.reached || remaining <= 0 || signal.aborted) return now;
    const page = await store.events({ after, channel, limit: 100, timeout_ms: remaining, signal });
    after = Math.max(after, page.next_after);
  }
}

/** One group of mux_groups. */
export interface GroupCount {
  /** null: the agents in no group. */
  group: string | null;
  agents: number;
  /** How many are in each state. */
  states: Record<AgentState, number>;
  members: string[];
}

/** The groups of a channel with their counts, by name (no group last). */
export async function groupCounts(store: CoordStore, query: GroupsQuery): Promise<{ channel: string; groups: GroupCount[] }> {
  const channel = channelName(query.channel);
  const agents = await store.discoverAgents({ channel, include_stale: query.include_stale === true });
  const byGroup = new Map<string | null, GroupCount>();
  for (const agent of agents) {
    let entry = byGroup.get(agent.group);
    if (entry === undefined) {
      entry = { group: agent.group, agents: 0, states: { working: 0, idle: 0, waiting: 0, blocked: 0 }, members: [] };
      byGroup.set(agent.group, entry);
    }
    entry.agents += 1;
    entry.states[agent.state] += 1;
    entry.members.push(agent.id);
  }
  const groups = [...byGroup.values()].sort((a, b) => (a.group === null ? 1 : b.group === null ? -1 : a.group.localeCompare(b.group)));
  return { channel, groups };
}
