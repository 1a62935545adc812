import type { MessageRow } from '../rows.js';
import { CallGroup, columns } from './call-group.js';
import { preparedRow, preparedRows, type Queryable } from './context.js';

/** What coord_send (and each send of a batch) answers. */
export interface SendRow {
  sender_channel: string | null;
  recipient_channel: string | null;
  recipient_webhook: string | null;
  message_id: number | null;
  handed: boolean | null;
}

/** What coord_poll (and each poll of a batch) answers. */
export interface PollRow {
  known: boolean;
  agent_channel: string;
  newest: number | null;
  next_cursor: number | null;
  has_more: boolean | null;
  page: MessageRow[] | null;
}

/** A send's or a poll's parameters, as coord_send's and coord_poll's. */
type Call = { kind: 'send'; params: unknown[] } | { kind: 'poll'; params: unknown[] };

/** One element's answer; coord_meet_batch's rows carry both kinds' columns, the other kind's NULL. */
type Answer = Partial<SendRow & PollRow> | undefined;

/** p_keep (7th) is one value for a batch: every send of this store passes the same. */
const SEND_SINGLE = [6];
/** p_at (5th) is one value for a batch: the time it leaves. */
const POLL_SINGLE = [4];

/**
 * The sends and polls of one store, grouped ([pg-speed], issue #31): a
 * call goes at once while none of either kind is at the database; the calls
 * that arrive meanwhile go together when it returns, as one transaction
 * whatever their kinds (schema step 11, pg/meet-functions.ts: a poll's
 * cursor move shares its commit and WAL flush with the sends that met it,
 * and it sees their messages). A batch of one kind calls that kind's batch
 * function (step 10).
 */
export class MessageCalls {
  readonly #group: CallGroup<Call, Answer>;

  constructor(pool: Queryable) {
    this.#group = new CallGroup<Call, Answer>(
      (c) =>
        c.kind === 'send'
          ? preparedRow<SendRow>(pool, 'coord_send_9', 'SELECT * FROM coord_send($1, $2, $3, $4, $5, $6, $7, $8, $9)', c.params)
          : preparedRow<PollRow>(pool, 'coord_poll', 'SELECT * FROM coord_poll($1, $2, $3, $4, $5)', c.params),
      (list) => batch(pool, list),
    );
  }

  /** coord_send's parameters; its answer row (refusals are rows too). */
  send(params: unknown[]): Promise<SendRow | undefined> {
    return this.#group.call({ kind: 'send', params }) as Promise<SendRow | undefined>;
  }

  /** coord_poll's parameters; a poll whose caller left before it went rejects with CALLER_GONE (call-group.ts). */
  poll(params: unknown[], signal?: AbortSignal): Promise<PollRow | undefined> {
    return this.#group.call({ kind: 'poll', params }, signal) as Promise<PollRow | undefined>;
  }
}

/** Several calls in one function call; the answers in the calls' order. */
async function batch(pool: Queryable, list: Call[]): Promise<Answer[]> {
  const sends = list.filter((c) => c.kind === 'send').map((c) => c.params);
  const polls = list.filter((c) => c.kind === 'poll').map((c) => c.params);
  if (polls.length === 0) {
    return preparedRows<SendRow>(pool, 'coord_send_batch', 'SELECT * FROM coord_send_batch($1, $2, $3, $4, $5, $6, $7, $8, $9)', columns(sends, SEND_SINGLE));
  }
  if (sends.length === 0) {
    return preparedRows<PollRow>(pool, 'coord_poll_batch', 'SELECT * FROM coord_poll_batch($1, $2, $3, $4, $5)', columns(polls, POLL_SINGLE));
  }
  const found = await preparedRows<SendRow & PollRow>(
    pool,
    'coord_meet_batch',
    'SELECT * FROM coord_meet_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)',
    [...columns(sends, SEND_SINGLE), ...columns(polls, POLL_SINGLE)],
  );
  // The sends' rows first, then the polls', each in the order given.
  let send = 0;
  let poll = sends.length;
  return list.map((c) => (c.kind === 'send' ? found[send++] : found[poll++]));
}
