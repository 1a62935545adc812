import type { DoorbellNotice } from './doorbell.js';
import type {
  Agent,
  AgentState,
  BroadcastPriority,
  Channel,
  CoordEvent,
  CoordEventType,
  CoordStats,
  Message,
  MessageKind,
  StateEntry,
  Task,
  TaskStatus,
} from './types.js';
import { iso, isoOrNull } from './validate.js';

/*
 * The tables' rows as both stores read them (times in ms since the epoch,
 * JSON in TEXT columns) and their conversion into the records the tools
 * return, so SQLite and PostgreSQL answer field for field alike.
 */

/** Parses a JSON column written by a store. */
export function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** An agents row. */
export interface AgentRow {
  id: string;
  role: string;
  capabilities: string;
  group_name: string | null;
  channel: string;
  webhook_url: string | null;
  registered_at: number;
  last_heartbeat: number;
  /** Schema 6: what the agent said it is doing (NULL: idle), and when. */
  state?: string | null;
  waiting_for?: string | null;
  current_file?: string | null;
  current_thread?: string | null;
  state_at?: number | null;
}

/** An agent as the tools show it; stale when its last sign of life is before `staleBefore` (ms). */
export function toAgent(row: AgentRow, staleBefore: number): Agent {
  return {
    id: row.id,
    role: row.role,
    capabilities: parseJson<string[]>(row.capabilities),
    group: row.group_name,
    channel: row.channel,
    status: row.last_heartbeat >= staleBefore ? 'active' : 'stale',
    has_webhook: row.webhook_url !== null,
    registered_at: iso(row.registered_at),
    last_heartbeat: iso(row.last_heartbeat),
    state: (row.state ?? 'idle') as AgentState,
    waiting_for: row.waiting_for ?? null,
    current_file: row.current_file ?? null,
    current_thread: row.current_thread ?? null,
    state_since: isoOrNull(row.state_at ?? null),
  };
}

/** A channels row with its counts. */
export interface ChannelRow {
  name: string;
  description: string | null;
  created_by: string | null;
  created_at: number;
  agents: number;
  messages: number;
  open_tasks: number;
  state_keys: number;
}

/** The select list of a ChannelRow from `channels c` (both dialects). */
export const CHANNEL_COLUMNS = `c.name, c.description, c.created_by, c.created_at,
  (SELECT COUNT(*) FROM agents a WHERE a.channel = c.name) AS agents,
  (SELECT COUNT(*) FROM messages m WHERE m.channel = c.name) AS messages,
  (SELECT COUNT(*) FROM tasks t WHERE t.channel = c.name AND t.status IN ('pending', 'claimed')) AS open_tasks,
  (SELECT COUNT(*) FROM state s WHERE s.channel = c.name) AS state_keys`;

export function toChannel(row: ChannelRow): Channel {
  return {
    name: row.name,
    description: row.description,
    created_by: row.created_by,
    created_at: iso(row.created_at),
    agents: row.agents,
    messages: row.messages,
    open_tasks: row.open_tasks,
    state_keys: row.state_keys,
  };
}

/** A messages row. */
export interface MessageRow {
  id: number;
  channel: string;
  kind: MessageKind;
  from_agent: string;
  to_agent: string | null;
  group_name: string | null;
  content: string;
  sent_at: number;
  /** Set on a thread notice (stored as a direct message). */
  thread_id?: string | null;
  /** Schema 6: a broadcast's priority; NULL on other messages. */
  priority?: string | null;
}

export function toMessage(row: MessageRow): Message {
  const message: Message = {
    id: row.id,
    from: row.from_agent,
    to: row.to_agent,
    content: row.content,
    channel: row.channel,
    kind: row.kind,
    group: row.group_name,
    sent_at: iso(row.sent_at),
  };
  if (row.thread_id !== undefined && row.thread_id !== null) Object.assign(message, { kind: 'thread', thread_id: row.thread_id });
  if (row.priority !== undefined && row.priority !== null) message.priority = row.priority as BroadcastPriority;
  return message;
}

/**
 * The data of a `message` event: a thread notice carries `kind: "thread"`
 * and `thread_id` as it does on poll and history (toMessage).
 */
export function messageEvent(id: number, from: string, to: string, content: string, threadId: string | null): Record<string, unknown> {
  const data: Record<string, unknown> = { message_id: id, from, to, content };
  if (threadId !== null) Object.assign(data, { kind: 'thread', thread_id: threadId });
  return data;
}

/** The doorbell POST body for one recipient of a message. */
export function doorbellNotice(agentId: string, channel: string, id: number, from: string, kind: MessageKind, at: number): DoorbellNotice {
  return { type: 'doorbell', agent_id: agentId, channel, message_id: id, from, kind, sent_at: iso(at) };
}

/** A tasks row. */
export interface TaskRow {
  seq: number;
  id: string;
  channel: string;
  description: string;
  posted_by: string;
  required_capability: string | null;
  priority: number;
  metadata: string;
  status: TaskStatus;
  claimed_by: string | null;
  claimed_at: number | null;
  lease_expires_at: number | null;
  epoch: number;
  attempts: number;
  result: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    description: row.description,
    posted_by: row.posted_by,
    required_capability: row.required_capability,
    priority: row.priority,
    channel: row.channel,
    metadata: parseJson<Record<string, unknown>>(row.metadata),
    status: row.status,
    claimed_by: row.claimed_by,
    claimed_at: isoOrNull(row.claimed_at),
    epoch: row.epoch,
    lease_expires_at: isoOrNull(row.lease_expires_at),
    attempts: row.attempts,
    result: row.result,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    completed_at: isoOrNull(row.completed_at),
  };
}

/** A state row. */
export interface StateRow {
  channel: string;
  key: string;
  value: string;
  version: number;
  updated_by: string | null;
  updated_at: number;
}

/** The entry of a key; version 0 and value null when it was never set. */
export function toEntry(channel: string, key: string, row: StateRow | undefined): StateEntry {
  if (row === undefined) return { key, channel, value: null, version: 0, updated_by: null, updated_at: null };
  return { key, channel, value: parseJson<unknown>(row.value), version: row.version, updated_by: row.updated_by, updated_at: iso(row.updated_at) };
}

/** An events row. */
export interface EventRow {
  id: number;
  type: CoordEventType;
  channel: string | null;
  data: string;
  created_at: number;
}

export function toEvent(row: EventRow): CoordEvent {
  return { id: row.id, type: row.type, channel: row.channel, data: parseJson<Record<string, unknown>>(row.data), at: iso(row.created_at) };
}

/** The counts behind CoordStats, as both stores query them. */
export interface StatsCounts {
  agents: { total: number; active: number };
  messages: { total: number; direct: number };
  taskRows: Array<{ status: TaskStatus; n: number }>;
  stateKeys: number;
  channels: number;
  events: { last_id: number; stored: number };
}

export function toStats(channel: string | null, c: StatsCounts): CoordStats {
  const tasks: Record<TaskStatus, number> = { pending: 0, claimed: 0, complete: 0, failed: 0 };
  for (const row of c.taskRows) tasks[row.status] = row.n;
  return {
    channel,
    agents: { total: c.agents.total, active: c.agents.active, stale: c.agents.total - c.agents.active },
    messages: { total: c.messages.total, direct: c.messages.direct, broadcast: c.messages.total - c.messages.direct },
    tasks,
    state_keys: c.stateKeys,
    channels: c.channels,
    events: c.events,
  };
}
