import type { AgentState, AgentStatus } from './schemas/agent.js';
import type { BroadcastPriority, PollArgs } from './schemas/message.js';
import type { WatchStateArgs } from './schemas/state.js';
import type { TaskStatus } from './schemas/task.js';

/*
 * The records the coordination store returns; the inputs of its operations
 * are zod schemas in schemas/, re-exported here with their inferred types.
 * Field names are the wire names (stonemux-reference.txt), so REST and MCP
 * can return these objects as they are. Times are ISO 8601.
 */

/** The channel used when a call names none. */
export const DEFAULT_CHANNEL = 'default';

export * from './schemas/agent.js';
export * from './schemas/channel.js';
export * from './schemas/message.js';
export * from './schemas/state.js';
export * from './schemas/task.js';
export * from './work-claim-types.js';

export interface Agent {
  id: string;
  role: string;
  capabilities: string[];
  group: string | null;
  channel: string;
  status: AgentStatus;
  /** True when a doorbell webhook is registered (the URL itself is not shown). */
  has_webhook: boolean;
  registered_at: string;
  /** Last heartbeat or other call by the agent (poll, send, claim, complete). */
  last_heartbeat: string;
  /** What it said it is doing (mux_agent_state); idle until it says. */
  state: AgentState;
  /** What a waiting or blocked agent waits for. */
  waiting_for: string | null;
  current_file: string | null;
  current_thread: string | null;
  /** When it last set its state; null when it never did. */
  state_since: string | null;
}

export interface RegisterAgentResult {
  agent: Agent;
  /** False when the agent id was already registered and its fields were replaced. */
  created: boolean;
  heartbeat_interval: number;
}

export interface DeregisterAgentResult {
  agent_id: string;
  /** False when no such agent was registered (deregister is idempotent). */
  deregistered: boolean;
  /** Messages still waiting past the agent's cursors; kept for a later re-registration. */
  pending_messages: number;
  /** Ids of the live work claims the agent held, released with the deregistration (claim_released events). */
  released_claims: string[];
  /** Ids of the tasks the agent had claimed, back to pending with the deregistration (task_requeued events). */
  returned_tasks: string[];
}

export type MessageKind = 'direct' | 'broadcast';

export interface Message {
  id: number;
  from: string;
  /** Recipient of a direct message; null for a broadcast. */
  to: string | null;
  content: string;
  channel: string;
  /** "thread": a notice about a consultation thread (a direct message the store sent, naming `thread_id`). */
  kind: MessageKind | 'thread';
  /** Target group of a broadcast; null when it went to the whole channel. */
  group: string | null;
  sent_at: string;
  /** The thread a notice (kind "thread") is about; absent on other messages. */
  thread_id?: string;
  /** A broadcast's priority (mux_broadcast); absent on other messages. */
  priority?: BroadcastPriority;
}

export interface SendResult {
  id: number;
  channel: string;
  sent_at: string;
  /** Recipients whose doorbell webhook will be rung. */
  doorbells: number;
}

export interface BroadcastResult {
  id: number;
  channel: string;
  group: string | null;
  sent_at: string;
  /** Agents the broadcast was delivered to (the sender excluded). */
  recipients: string[];
  doorbells: number;
  priority: BroadcastPriority;
}

/** What the store's poll takes: the wire input with its timeout in ms, and the caller's abort signal. */
export interface PollInput extends Omit<PollArgs, 'timeout'> {
  /** Milliseconds to wait for a first message; capped by poll_timeout_max. 0: answer at once. */
  timeout_ms?: number;
  signal?: AbortSignal;
}

export interface PollResult {
  agent_id: string;
  channel: string;
  messages: Message[];
  /** Pass as `after` on the next poll to acknowledge these messages (at-least-once mode). */
  next_cursor: number;
  /** More messages are waiting than `limit` allowed. */
  has_more: boolean;
  /** Set when the agent is registered in another channel and this one had nothing. */
  hint?: string;
}

export interface HistoryResult {
  mode: 'dm' | 'group' | 'channel';
  channel: string;
  /** Set when the query read as this agent (agent_id without with_agent): only messages it sent or received. */
  agent_id?: string;
  /** Newest first. */
  messages: Message[];
}

export interface Task {
  id: string;
  description: string;
  posted_by: string;
  required_capability: string | null;
  priority: number;
  channel: string;
  metadata: Record<string, unknown>;
  status: TaskStatus;
  claimed_by: string | null;
  claimed_at: string | null;
  /** Claims handed out so far; a lease presents the current one. */
  epoch: number;
  lease_expires_at: string | null;
  /** Claims that ended without completion (the lease lapsed, or the claimer deregistered) and were re-queued. */
  attempts: number;
  result: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface Lease {
  task_id: string;
  epoch: number;
  expires_at: string;
}

export interface ClaimTaskResult {
  task: Task | null;
  lease: Lease | null;
  /** Why nothing was claimed, when task is null. */
  reason?: string;
}

export interface StateEntry {
  key: string;
  channel: string;
  /** Any JSON value; null with version 0 when the key was never set. */
  value: unknown;
  version: number;
  updated_by: string | null;
  updated_at: string | null;
}

/** What the store's watch takes: the wire input with its timeout in ms, and the caller's abort signal. */
export interface WatchStateInput extends Omit<WatchStateArgs, 'timeout'> {
  timeout_ms?: number;
  signal?: AbortSignal;
}

export interface WatchStateResult extends StateEntry {
  /** False when the timeout passed without a newer version. */
  changed: boolean;
}

export interface Channel {
  name: string;
  description: string | null;
  created_by: string | null;
  created_at: string;
  agents: number;
  messages: number;
  open_tasks: number;
  state_keys: number;
}

export interface CreateChannelResult {
  channel: Channel;
  /** False when the channel already existed (create is idempotent). */
  created: boolean;
}

export type CoordEventType =
  | 'agent_registered'
  | 'agent_deregistered'
  | 'agent_state'
  | 'message'
  | 'broadcast'
  | 'task_posted'
  | 'task_claimed'
  | 'task_completed'
  | 'task_failed'
  | 'task_requeued'
  | 'task_renewed'
  | 'state_changed'
  | 'channel_created'
  | 'claim_announced'
  | 'claim_renewed'
  | 'claim_released'
  | 'claim_expired'
  | 'thread_opened'
  | 'thread_message'
  | 'thread_status';

export interface CoordEvent {
  /** Global, monotonic; the SSE event id. */
  id: number;
  type: CoordEventType;
  channel: string | null;
  data: Record<string, unknown>;
  at: string;
}

export interface EventsQuery {
  /** Return events with a larger id. */
  after: number;
  /** Only events of this channel (events without a channel are kept). */
  channel?: string;
  limit?: number;
  /** Wait this long for a first event; 0: answer at once. */
  timeout_ms?: number;
  signal?: AbortSignal;
}

export interface EventsPage {
  events: CoordEvent[];
  /** Where the next query should start: the last id examined (also past filtered-out events). */
  next_after: number;
  /** Oldest id still stored; a resume point below it has missed trimmed events. */
  oldest_id: number | null;
  /** Newest id stored (0 when none ever were). */
  last_id: number;
}

export interface CoordStats {
  channel: string | null;
  agents: { total: number; active: number; stale: number };
  messages: { total: number; direct: number; broadcast: number };
  tasks: Record<TaskStatus, number>;
  state_keys: number;
  channels: number;
  events: { last_id: number; stored: number };
}

export interface StoreHealth {
  store: string;
  schema_version: number;
  uptime_seconds: number;
  /** Why the store's file is not usable (deleted, replaced, corrupt); absent when it is. */
  problem?: string;
}

/** What one retention pass deleted (CoordStore.prune). */
export interface PruneReport {
  /** Messages deleted (with their inbox copies). */
  messages: number;
  /** Finished tasks deleted. */
  tasks: number;
  /** Released or expired work claims deleted. */
  claims: number;
  /** Resolved, closed or cancelled threads deleted (with their messages and participants). */
  threads: number;
}
