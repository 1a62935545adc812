import { agentList, intentText, pathList, repoName, repoRules, requiredText, threadMessage } from './claim-validate.js';
import { CoordError } from './errors.js';
import { withinLimit } from './limits.js';
import type { CoordOptions } from './options.js';
import { parseJson } from './rows.js';
import type { CoordLogger } from './store.js';
import type { OpenThreadInput, SendInput, Thread, ThreadActionInput, ThreadMessage, ThreadMessageKind, ThreadStatus } from './types.js';
import { channelName, ident, iso, isoOrNull } from './validate.js';

/*
 * The rules of consultation threads that do not depend on the engine (the
 * state machine, who may act, the sentences and the inbox notices). States:
 * open → proposed (a "proposal" post) → resolved (every participant approved,
 * or thread_timeout passed without activity) → closed; contest sends a
 * proposed or resolved thread back to open; cancel ends any thread that has
 * not ended.
 */

/** A threads row as both engines store it (times in ms, lists as JSON). */
export interface ThreadRow {
  seq: number;
  id: string;
  channel: string;
  repo: string;
  subject: string;
  opened_by: string;
  participants: string;
  claim_ids: string;
  paths: string;
  status: ThreadStatus;
  proposal: string | null;
  proposal_by: string | null;
  proposal_message: number | null;
  approvals: string;
  resolution: string | null;
  resolved_how: 'consensus' | 'timeout' | null;
  resolved_at: number | null;
  created_at: number;
  updated_at: number;
  auto_resolve_at: number | null;
}

/** A thread_messages row. */
export interface ThreadMessageRow {
  id: number;
  thread_id: string;
  agent_id: string | null;
  kind: ThreadMessageKind;
  content: string;
  created_at: number;
}

/** The columns an action changes (an alias, not an interface, so it is also a record of named parameters). */
export type ThreadUpdate = {
  id: string;
  status: ThreadStatus;
  proposal: string | null;
  proposal_by: string | null;
  proposal_message: number | null;
  approvals: string;
  resolution: string | null;
  resolved_how: 'consensus' | 'timeout' | null;
  resolved_at: number | null;
  updated_at: number;
  auto_resolve_at: number | null;
};

/** What a new thread needs once its inputs are checked. */
export interface ThreadSpec {
  opener: string;
  others: string[];
  subject: string;
  paths: string[];
  claimIds: string[];
  channel: string;
  repo: string;
  /** The first message (kind "opened"). */
  note: string;
}

/** A checked thread action. */
export interface CheckedAction {
  threadId: string;
  agent: string;
  kind: ThreadMessageKind;
  content: string;
}

/** Sends a thread notice: a direct message naming the thread (kind "thread" in inboxes); how a thread reaches its participants. */
export type SendNotice = (input: SendInput, threadId: string) => unknown;

const ACTIONS: ReadonlySet<string> = new Set(['post', 'approve', 'contest', 'close', 'cancel']);
const POST_KINDS: ReadonlySet<string> = new Set(['context', 'warning', 'question', 'proposal']);
const LIVE: ReadonlySet<ThreadStatus> = new Set(['open', 'proposed']);
export const ENDED: ReadonlySet<ThreadStatus> = new Set(['closed', 'cancelled']);
/** Characters of a thread message quoted in an inbox notice. */
const NOTICE_QUOTE = 300;

/** The checked spec of a thread opened on request. */
export function threadToOpen(input: OpenThreadInput, options: CoordOptions): ThreadSpec {
  const opener = ident(input.agent_id, 'agent_id');
  const repo = repoName(input.repo);
  const others = agentList(input.participants ?? [], 'participants', opener, options);
  withinLimit('claim_ids', input.claim_ids?.length ?? 0, 'max_list_entries', options);
  if (others.length === 0) throw new CoordError('BAD_REQUEST', 'participants names no agent besides you; list the agents to consult.');
  return {
    opener,
    others,
    subject: intentText(input.subject, 'subject', options),
    paths: pathList(input.paths, 'paths', options, 0, repoRules(options, repo)),
    claimIds: [...new Set((input.claim_ids ?? []).map((id) => ident(id, 'claim_ids entry')))],
    channel: channelName(input.channel),
    repo,
    note: input.subject,
  };
}

/**
 * The key of "one live thread per conflict": the sorted claim ids of a thread
 * about two or more claims (a conflict is a pair of claims), or null. At most
 * one thread per key has not ended (a unique index in both stores).
 */
export function conflictKey(claimIds: readonly string[]): string | null {
  const ids = [...new Set(claimIds)].sort();
  return ids.length >= 2 ? ids.join(' ') : null;
}

/** Where a participant of a thread opened on request is registered (null: nowhere). */
export type RegisteredIn = (agentId: string) => string | null;

/**
 * Refuses a thread on request with nobody to answer: every participant (the
 * opener included) must be registered in the thread's channel, where its
 * notices arrive, and every claim id must name a claim.
 */
export function assertReferences(spec: ThreadSpec, channelOf: RegisteredIn, claimExists: (claimId: string) => boolean): void {
  for (const agent of [spec.opener, ...spec.others]) {
    const as = agent === spec.opener ? 'Thread opener' : 'Participant';
    const channel = channelOf(agent);
    if (channel === null)
      throw new CoordError('UNKNOWN_AGENT', `${as} '${agent}' is not registered; a thread needs agents that can answer — register it first (mux_register).`, {
        agent_id: agent,
      });
    if (channel !== spec.channel)
      throw new CoordError(
        'UNKNOWN_AGENT',
        `${as} '${agent}' is registered in channel '${channel}', not '${spec.channel}'; open the thread in channel '${channel}' or register the agent in '${spec.channel}'.`,
        { agent_id: agent, channel },
      );
  }
  const unknown = spec.claimIds.find((id) => !claimExists(id));
  if (unknown !== undefined)
    throw new CoordError('UNKNOWN_CLAIM', `claim_ids names no work claim with id '${unknown}'; mux_claim_list shows the live claims of a channel.`, {
      claim_id: unknown,
    });
}

/** The data of a thread_opened event. */
export function openedEvent(id: string, spec: ThreadSpec, participants: string[]): Record<string, unknown> {
  return { thread_id: id, repo: spec.repo, subject: spec.subject, opened_by: spec.opener, participants, paths: spec.paths, claim_ids: spec.claimIds };
}

/** Checks an action's input (before any transaction). */
export function checkedAction(input: ThreadActionInput, options: CoordOptions): CheckedAction {
  const threadId = ident(input.thread_id, 'thread_id');
  const agent = ident(input.agent_id, 'agent_id');
  if (!ACTIONS.has(input.action)) throw new CoordError('BAD_REQUEST', `Thread action '${String(input.action)}' is not one of ${[...ACTIONS].join(', ')}.`);
  const kind = input.action === 'post' ? (input.kind ?? 'context') : input.action;
  if (!POST_KINDS.has(kind) && input.action === 'post') throw new CoordError('BAD_REQUEST', `Post kind '${kind}' is not one of ${[...POST_KINDS].join(', ')}.`);
  const content =
    input.action === 'post' || input.action === 'contest'
      ? requiredText(input.content, input.action === 'post' ? 'Message' : 'Reason for contesting', 'content')
      : (input.content ?? '');
  if (content !== '') threadMessage(content, options);
  return { threadId, agent, kind, content };
}

/** Inside the action's transaction: refuses an outsider or an ended thread; returns the participants. */
export function assertCanAct(row: ThreadRow, agent: string): string[] {
  const participants = parseJson<string[]>(row.participants);
  requireParticipant(row, participants, agent, false, []);
  if (ENDED.has(row.status))
    throw refuse(row, `is ${row.status}; nothing more can happen in it. Open a new thread (mux_thread_open) if there is more to settle.`);
  return participants;
}

/** The row after `kind` by `agent`, or a CONFLICT when the state does not allow it. */
export function transition(row: ThreadRow, participants: string[], action: CheckedAction, at: number, options: CoordOptions): ThreadUpdate {
  const { agent, kind, content } = action;
  const next = base(row, at);
  const approvals = new Set(parseJson<string[]>(row.approvals));
  switch (kind) {
    case 'proposal':
      if (!LIVE.has(row.status)) throw refuse(row, `is ${row.status}; contest it first to reopen it, then propose.`);
      Object.assign(next, { status: 'proposed', proposal: content, proposal_by: agent, approvals: JSON.stringify([agent]) });
      break;
    case 'approve':
      if (row.status !== 'proposed') throw refuse(row, `is ${row.status} with no proposal to approve; post one with kind "proposal".`);
      approvals.add(agent);
      next.approvals = JSON.stringify([...approvals]);
      if (participants.every((p) => approvals.has(p)))
        Object.assign(next, { status: 'resolved', resolution: row.proposal, resolved_how: 'consensus', resolved_at: at });
      break;
    case 'contest':
      if (row.status !== 'proposed' && row.status !== 'resolved')
        throw refuse(row, `is ${row.status}; there is no proposal or resolution to contest. Post a warning or a proposal instead.`);
      Object.assign(next, {
        status: 'open',
        proposal: null,
        proposal_by: null,
        proposal_message: null,
        approvals: '[]',
        resolution: null,
        resolved_how: null,
        resolved_at: null,
      });
      break;
    case 'close':
    case 'cancel':
      next.status = kind === 'close' ? 'closed' : 'cancelled';
      break;
    default:
      break; // context, warning, question: a message, no state change
  }
  next.auto_resolve_at = LIVE.has(next.status) ? at + options.thread_timeout * 1000 : null;
  return next;
}

/** A lapsed thread resolved by timeout: its new row and the note recorded as an auto_resolved message. */
export function timeoutResolution(row: ThreadRow, at: number, options: CoordOptions): { next: ThreadUpdate; note: string } {
  const proposal = row.status === 'proposed' ? row.proposal : null;
  const next: ThreadUpdate = { ...base(row, at), status: 'resolved', resolution: proposal, resolved_how: 'timeout', resolved_at: at, auto_resolve_at: null };
  const note = `No agreement or objection within ${options.thread_timeout} s; resolved by timeout${proposal === null ? '' : ` with the proposal on the table: ${proposal}`}.`;
  return { next, note };
}

/**
 * After a commit: tells the other participants registered in the channel,
 * through the store's message path. Resolves once the notices are stored, so
 * an action's answer comes after the others' unread counts show it.
 */
export async function sendNotices(send: SendNotice, logger: CoordLogger | undefined, thread: Thread, by: string, what: string): Promise<void> {
  const quoted = what.length > NOTICE_QUOTE ? `${what.slice(0, NOTICE_QUOTE)}…` : what;
  const content = `[thread ${thread.id}] ${by} ${quoted} (status: ${thread.status}; mux_thread_get for the whole thread)`;
  const others = thread.participants.filter((to) => to !== by);
  await Promise.all(
    others.map(async (to) => {
      try {
        await send({ from: by, to, content, channel: thread.channel }, thread.id);
      } catch (error) {
        // Threads opened by an announce may name holders that are not registered
        // (claims do not require it); the thread and its events hold everything the notice said.
        logger?.debug({ thread_id: thread.id, to, error: String(error) }, 'thread notice not delivered');
      }
    }),
  );
}

/** Refuses an agent that is not a participant (claim admins may read). */
export function requireParticipant(row: ThreadRow, participants: string[], agent: string, adminMayRead: boolean, admins: readonly string[]): void {
  if (participants.includes(agent) || (adminMayRead && admins.includes(agent))) return;
  throw new CoordError(
    'FORBIDDEN',
    `Agent '${agent}' is not a participant of thread ${row.id} (participants: ${participants.join(', ')}); only they can read and act in it.`,
    {
      thread_id: row.id,
      participants,
    },
  );
}

function refuse(row: ThreadRow, why: string): CoordError {
  return new CoordError('CONFLICT', `Thread ${row.id} ${why}`, { thread_id: row.id, status: row.status });
}

export function unknownThread(threadId: string): CoordError {
  return new CoordError('UNKNOWN_THREAD', `No thread with id '${threadId}'; mux_thread_list shows the threads of a channel.`, { thread_id: threadId });
}

/** The update that keeps a row as it is, touched at `at`. */
function base(row: ThreadRow, at: number): ThreadUpdate {
  return {
    id: row.id,
    status: row.status,
    proposal: row.proposal,
    proposal_by: row.proposal_by,
    proposal_message: row.proposal_message,
    approvals: row.approvals,
    resolution: row.resolution,
    resolved_how: row.resolved_how,
    resolved_at: row.resolved_at,
    updated_at: at,
    auto_resolve_at: row.auto_resolve_at,
  };
}

export function toThread(row: ThreadRow): Thread {
  return {
    id: row.id,
    channel: row.channel,
    repo: row.repo,
    subject: row.subject,
    opened_by: row.opened_by,
    participants: parseJson<string[]>(row.participants),
    claim_ids: parseJson<string[]>(row.claim_ids),
    paths: parseJson<string[]>(row.paths),
    status: row.status,
    proposal: row.proposal === null || row.proposal_by === null ? null : { text: row.proposal, by: row.proposal_by, message_id: row.proposal_message ?? 0 },
    approvals: parseJson<string[]>(row.approvals),
    resolution: row.resolved_how === null || row.resolved_at === null ? null : { text: row.resolution, how: row.resolved_how, at: iso(row.resolved_at) },
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    auto_resolve_at: isoOrNull(row.auto_resolve_at),
  };
}

export function toThreadMessage(row: ThreadMessageRow): ThreadMessage {
  return { id: row.id, thread_id: row.thread_id, agent_id: row.agent_id, kind: row.kind, content: row.content, at: iso(row.created_at) };
}
