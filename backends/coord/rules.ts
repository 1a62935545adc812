import { CoordError } from './errors.js';
import { withinLimit } from './limits.js';
import type { CoordOptions } from './options.js';
import { type StateRow, type TaskRow, toEntry } from './rows.js';
import type {
  BroadcastInput,
  BroadcastPriority,
  CompleteTaskInput,
  HistoryQuery,
  HistoryResult,
  PollInput,
  PostTaskInput,
  RegisterAgentInput,
  SendInput,
  SetStateInput,
  TaskStatus,
} from './types.js';
import { channelName, ident, jsonValue, LIMITS, messageContent, optionalIdent, pageSize, pollTimeoutMs, position, textSize } from './validate.js';
import { checkWebhookUrl } from './webhook-guard.js';

/*
 * The decisions every store makes the same way, whatever holds the data:
 * inputs normalized before a transaction, and the refusals (with their
 * sentences) inside one. SQLite and PostgreSQL call these, so both answer
 * alike and the contract suite holds for both.
 */

/** UNKNOWN_AGENT for an id that is not registered. */
export function unknownAgent(agentId: string, as = 'Agent'): CoordError {
  return new CoordError('UNKNOWN_AGENT', `${as} '${agentId}' is not registered; register it first (mux_register or POST /coord/agent/register).`, {
    agent_id: agentId,
  });
}

/** UNKNOWN_TASK for an id that names no task. */
export function unknownTask(taskId: string): CoordError {
  return new CoordError('UNKNOWN_TASK', `No task with id '${taskId}'; mux_task_list (GET /coord/task/list) shows the tasks of a channel.`, { task_id: taskId });
}

/** What a closed store answers every call. */
export function storeClosed(): CoordError {
  return new CoordError('UNAVAILABLE', 'The coordination store is closed; the server is shutting down or restarting. Retry shortly.');
}

/** A registration, checked. */
export interface Registration {
  id: string;
  role: string;
  capabilities: string[];
  group: string | null;
  channel: string;
  webhook: string | null;
}

/** A registration, checked (the webhook URL resolved) before any transaction. */
export async function registration(input: RegisterAgentInput, options: CoordOptions): Promise<Registration> {
  const id = ident(input.agent_id, 'agent_id');
  const role = ident(input.role, 'role');
  withinLimit('capabilities', input.capabilities?.length ?? 0, 'max_capabilities', options);
  const capabilities = [...new Set((input.capabilities ?? []).map((c) => ident(c, 'capabilities entry')))];
  const group = optionalIdent(input.group, 'group');
  const channel = channelName(input.channel);
  const webhook = input.webhook_url === undefined || input.webhook_url === null || input.webhook_url === '' ? null : input.webhook_url;
  if (webhook !== null) await checkWebhookUrl(webhook, options.allow_private_webhooks);
  return { id, role, capabilities, group, channel, webhook };
}

/** A send's fields, checked: sender, recipient, content within max_message_size, channel. */
export function messageToSend(input: SendInput, options: CoordOptions): { from: string; to: string; content: string; channel: string } {
  return { from: ident(input.from, 'from'), to: ident(input.to, 'to'), content: messageContent(input.content, options), channel: channelName(input.channel) };
}

/** A poll's fields, checked: agent, channel, the `after` it acknowledges, page size, and the wait capped by poll_timeout_max. */
export function pollRequest(
  input: PollInput,
  options: CoordOptions,
): { agentId: string; channel: string; after: number | undefined; limit: number; timeoutMs: number } {
  return {
    agentId: ident(input.agent_id, 'agent_id'),
    channel: channelName(input.channel),
    after: position(input.after, 'after'),
    limit: pageSize(input.limit),
    timeoutMs: pollTimeoutMs(input.timeout_ms, options),
  };
}

/** A broadcast's fields, checked: sender, content within max_message_size, optional group, channel. */
export function broadcastToSend(
  input: BroadcastInput,
  options: CoordOptions,
): { from: string; content: string; group: string | null; channel: string; priority: BroadcastPriority } {
  return {
    priority: input.priority ?? 'normal',
    from: ident(input.from, 'from'),
    content: messageContent(input.content, options),
    group: optionalIdent(input.group, 'group'),
    channel: channelName(input.channel),
  };
}

/** CONFLICT-free recipient check: a direct message goes to an agent in the channel it is sent in. */
export function recipientElsewhere(to: string, recipientChannel: string, channel: string): CoordError {
  return new CoordError(
    'UNKNOWN_AGENT',
    `Recipient '${to}' is registered in channel '${recipientChannel}', not '${channel}'; send with channel '${recipientChannel}'.`,
    { agent_id: to, channel: recipientChannel },
  );
}

/**
 * An agent acting in a channel it is not registered in: a sender, a
 * broadcaster or a poster acts only in its own channel, as a claimer does,
 * so channels stay isolated in both directions (DESIGN: an agent lives in
 * one channel).
 */
export function actingElsewhere(as: string, agentId: string, agentChannel: string, channel: string, verb: string): CoordError {
  return new CoordError(
    'UNKNOWN_AGENT',
    `${as} '${agentId}' is registered in channel '${agentChannel}', not '${channel}'; ${verb} with channel '${agentChannel}' or re-register in '${channel}'.`,
    { agent_id: agentId, channel: agentChannel },
  );
}

/** A poll with `after` past every message id would skip future messages. */
export function afterTooFar(after: number, newest: number): CoordError {
  return new CoordError('BAD_REQUEST', `after ${after} is past the newest message id ${newest}; pass the next_cursor of your last poll.`);
}

/** The hint of an empty poll in a channel the agent is not registered in. */
export function pollHint(agentId: string, registeredChannel: string): string {
  return `Agent '${agentId}' is registered in channel '${registeredChannel}'; poll with channel '${registeredChannel}' for its messages there.`;
}

/** A history query as SQL for either engine: the result's head (mode, channel, agent_id) and the statement with its values in order. */
export interface HistorySql {
  scope: Omit<HistoryResult, 'messages'>;
  sql: string;
  values: Array<string | number>;
}

/**
 * A history query, checked and written as SQL; `mark` writes the n-th
 * placeholder (`?` on SQLite, `$n` on PostgreSQL). agent_id with with_agent
 * is the conversation of two agents; agent_id alone reads as that agent:
 * only the messages it sent or has an inbox row for (with `group`, those to
 * the group), which is what an agent token may read through the gateway.
 */
export function historySql(query: HistoryQuery, mark: (n: number) => string): HistorySql {
  const channel = channelName(query.channel);
  const limit = pageSize(query.limit, LIMITS.defaultHistory);
  const before = position(query.before, 'before') ?? Number.MAX_SAFE_INTEGER;
  const values: Array<string | number> = [];
  const p = (value: string | number): string => {
    values.push(value);
    return mark(values.length);
  };
  const where = [`channel = ${p(channel)}`, `id < ${p(before)}`];
  if (query.with_agent !== undefined) {
    if (query.agent_id === undefined) {
      throw new CoordError(
        'BAD_REQUEST',
        'with_agent needs agent_id: give both for the direct messages between two agents, agent_id alone for what one agent sent and received, or neither for the whole channel.',
      );
    }
    const [a, b] = [ident(query.agent_id, 'agent_id'), ident(query.with_agent, 'with_agent')];
    where.push(`kind = 'direct' AND ((from_agent = ${p(a)} AND to_agent = ${p(b)}) OR (from_agent = ${p(b)} AND to_agent = ${p(a)}))`);
    return { scope: { mode: 'dm', channel }, sql: historySelect(where, p(limit)), values };
  }
  const group = query.group === undefined ? null : ident(query.group, 'group');
  if (group !== null) where.push(`kind = 'broadcast' AND group_name = ${p(group)}`);
  const agentId = query.agent_id === undefined ? undefined : ident(query.agent_id, 'agent_id');
  if (agentId !== undefined) {
    where.push(`(from_agent = ${p(agentId)} OR id IN (SELECT message_id FROM inbox WHERE recipient = ${p(agentId)} AND channel = ${p(channel)}))`);
  }
  const scope: HistorySql['scope'] = { mode: group === null ? 'channel' : 'group', channel };
  if (agentId !== undefined) scope.agent_id = agentId;
  return { scope, sql: historySelect(where, p(limit)), values };
}

function historySelect(where: string[], limit: string): string {
  return `SELECT * FROM messages WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ${limit}`;
}

/** A task to post, checked; metadata serialized. */
export interface TaskToPost {
  description: string;
  postedBy: string;
  capability: string | null;
  priority: number;
  metadata: string;
  channel: string;
}

/** A task to post, checked. */
export function taskToPost(input: PostTaskInput, options: CoordOptions): TaskToPost {
  const description = textSize(input.description, 'Task description', options, 'description');
  if (description.trim() === '') throw new CoordError('BAD_REQUEST', 'Task description is empty; say what needs doing.');
  const postedBy = ident(input.posted_by, 'posted_by');
  if (input.required_capability === '') {
    throw new CoordError(
      'BAD_REQUEST',
      'required_capability is empty; omit it (or pass null) for a task any agent may claim, or name the capability a claimer must have.',
    );
  }
  const capability = optionalIdent(input.required_capability, 'required_capability');
  const priority = input.priority ?? 0;
  if (!Number.isSafeInteger(priority)) throw new CoordError('BAD_REQUEST', `Priority ${priority} is not a whole number; higher is more urgent, default 0.`);
  const raw = input.metadata ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CoordError('BAD_REQUEST', 'Task metadata must be a JSON object, e.g. {"deadline": "2026-06-15"}.');
  }
  return { description, postedBy, capability, priority, metadata: jsonValue(raw, 'Task metadata', options, 'metadata'), channel: channelName(input.channel) };
}

/** A claim by an agent registered in another channel. */
export function claimElsewhere(agentId: string, agentChannel: string, channel: string): CoordError {
  return actingElsewhere('Agent', agentId, agentChannel, channel, 'claim');
}

/** Why a claim found nothing. */
export function noTaskReason(pending: number, channel: string, agentId: string, capabilities: string): string {
  return pending === 0
    ? `No pending tasks in channel '${channel}'.`
    : `${pending} pending task(s) in channel '${channel}' require a capability that '${agentId}' lacks (it has ${capabilities}).`;
}

/** A completion, checked. */
export function completion(
  input: CompleteTaskInput,
  options: CoordOptions,
): { taskId: string; agentId: string; epoch: number | undefined; status: 'complete' | 'failed'; result: string | null } {
  return {
    taskId: ident(input.task_id, 'task_id'),
    agentId: ident(input.agent_id, 'agent_id'),
    epoch: position(input.epoch, 'epoch'),
    status: input.status ?? 'complete',
    result: input.result === undefined ? null : textSize(input.result, 'Task result', options, 'result'),
  };
}

/** Refuses completing `task` unless `agentId` holds its current lease. */
export function assertCompletable(task: TaskRow, agentId: string, epoch: number | undefined, options: CoordOptions): void {
  const taskId = task.id;
  const details = { task_id: taskId, status: task.status, claimed_by: task.claimed_by, epoch: task.epoch };
  const finished: TaskStatus[] = ['complete', 'failed'];
  if (finished.includes(task.status)) throw new CoordError('CONFLICT', `Task ${taskId} is already ${task.status}; nothing to do.`, details);
  if (task.status === 'pending') {
    throw new CoordError(
      'CONFLICT',
      `Task ${taskId} is not claimed (its lease lapsed after ${options.task_claim_timeout} s and it went back to pending, or it was never claimed); claim it again before completing.`,
      details,
    );
  }
  if (task.claimed_by !== agentId) {
    throw new CoordError('CONFLICT', `Task ${taskId} is claimed by '${task.claimed_by ?? '?'}', not '${agentId}'; only the claimer can complete it.`, details);
  }
  if (epoch !== undefined && epoch !== task.epoch) {
    throw new CoordError(
      'CONFLICT',
      `Lease epoch ${epoch} of task ${taskId} is stale (current epoch ${task.epoch}): the lease lapsed and the task was claimed again. Drop this work.`,
      details,
    );
  }
}

/** A state write, checked. */
export function stateWrite(
  input: SetStateInput,
  options: CoordOptions,
): { channel: string; key: string; value: string; expected: number | undefined; updatedBy: string | null } {
  const channel = channelName(input.channel);
  const key = ident(input.key, 'key', 256);
  if (input.value === undefined) throw new CoordError('BAD_REQUEST', `No value given for key '${key}'; send value (any JSON).`);
  return {
    channel,
    key,
    value: jsonValue(input.value, `Value of key '${key}'`, options, 'value'),
    expected: position(input.expected_version, 'expected_version'),
    updatedBy: optionalIdent(input.updated_by, 'updated_by'),
  };
}

/** Refuses a CAS write whose expected version is not the current one; CONFLICT carries the current entry. */
export function assertVersion(channel: string, key: string, expected: number | undefined, current: StateRow | undefined): void {
  const version = current?.version ?? 0;
  if (expected === undefined || expected === version) return;
  const now = toEntry(channel, key, current);
  throw new CoordError(
    'CONFLICT',
    `Key '${key}' in channel '${channel}' is at version ${version}, not ${expected}: someone else wrote it since you read it. Use the current value and version below and retry.`,
    { key, channel, expected_version: expected, current_version: version, current_value: now.value, updated_by: now.updated_by, updated_at: now.updated_at },
  );
}

/** What long-polls answer when the store closes under them. */
export const SHUTDOWN = {
  poll: 'The coordination store is shutting down; poll again after it restarts. Nothing was lost.',
  watch: 'The coordination store is shutting down; watch again after it restarts.',
  events: 'The coordination store is shutting down; reconnect to resume from your last event id.',
} as const;
