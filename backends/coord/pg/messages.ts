import { topics } from '../../../kit/notifier.js';
import type { DoorbellNotice } from '../doorbell.js';
import { CoordError } from '../errors.js';
import { doorbellNotice, type MessageRow, toMessage } from '../rows.js';
import {
  actingElsewhere,
  afterTooFar,
  broadcastToSend,
  historySql,
  messageToSend,
  pollHint,
  pollRequest,
  recipientElsewhere,
  SHUTDOWN,
  unknownAgent,
} from '../rules.js';
import type { BroadcastInput, BroadcastResult, HistoryQuery, HistoryResult, PollInput, PollResult, SendInput, SendResult } from '../types.js';
import { iso } from '../validate.js';
import type { PgAgents } from './agents.js';
import { CALLER_GONE } from './call-group.js';
import { type PgContext, preparedRow, type Queryable, rows, wake } from './context.js';
import { Handoffs, type Parked } from './handoff.js';
import { longPollAsync } from './long-poll.js';
import { MessageCalls } from './message-calls.js';

interface Ring {
  url: string;
  notice: DoorbellNotice;
}

type PollOnce = Pick<PollResult, 'messages' | 'next_cursor' | 'has_more'>;

/**
 * Inboxes on PostgreSQL, with the cursor rules of the SQLite store
 * (DESIGN.md, "Delivery semantics of poll"). A message and its inbox rows
 * commit in one function call, without the store's write lock, in id order
 * per inbox (the argument is in migration-lockfree.ts); the recipient's inbox
 * topic is NOTIFYed at commit, so a long-poll on any gateway wakes.
 */
export class PgMessages {
  private readonly handoffs = new Handoffs();
  /** Sends and polls that meet here commit together (message-calls.ts; schema steps 10 and 11). */
  private readonly calls: MessageCalls;

  constructor(
    private readonly ctx: PgContext,
    private readonly agents: PgAgents,
  ) {
    this.calls = new MessageCalls(ctx.pool);
  }

  /** A direct message; `threadId` makes it a thread notice (kind "thread"), sent only by the store's threads. One function call (migration-lockfree.ts). */
  async send(input: SendInput, threadId: string | null = null): Promise<SendResult> {
    const { from, to, content, channel } = messageToSend(input, this.ctx.options);
    const at = this.ctx.now();
    // A long-poll parked on this gateway for the recipient's inbox may be handed the message (handoff.ts).
    const inbox = topics.inbox(channel, to);
    const offer = this.handoffs.offer(inbox);
    // [pg-speed] A handoff on the cursor tells what the inbox holds at this commit: nothing past this message (inbox-memo.ts).
    const known = offer?.onCursor === true ? this.ctx.inboxes.begin(inbox) : undefined;
    const sent = await this.calls
      .send([channel, from, to, content, at, threadId, this.ctx.options.max_event_buffer, offer?.after ?? null, offer?.onCursor ?? false])
      .catch((err: unknown) => {
        offer?.settle(undefined);
        throw err;
      });
    const id = sent?.message_id ?? null;
    // The parked poll answers with this message when the database handed it over (coord_send), else it reads as before.
    offer?.settle(
      id !== null && sent?.handed === true
        ? { id, channel, kind: 'direct', from_agent: from, to_agent: to, group_name: null, content, sent_at: at, thread_id: threadId }
        : undefined,
    );
    if (sent === undefined || id === null) {
      if (sent?.sender_channel == null) throw unknownAgent(from, 'Sender');
      if (sent.sender_channel !== channel) throw actingElsewhere('Sender', from, sent.sender_channel, channel, 'send');
      if (sent.recipient_channel === null) throw unknownAgent(to, 'Recipient');
      throw recipientElsewhere(to, sent.recipient_channel, channel);
    }
    // Waiters on this gateway wake now; the other gateways' once the announcement reaches them.
    wake(this.ctx, [inbox, topics.events]);
    if (known !== undefined && sent.handed === true) this.ctx.inboxes.record(inbox, known, id, 1);
    const webhook = sent.recipient_webhook;
    if (webhook !== null) this.ctx.doorbell.ring(webhook, doorbellNotice(to, channel, id, from, 'direct', at));
    return { id, channel, sent_at: iso(at), doorbells: webhook === null ? 0 : 1 };
  }

  /** A broadcast: one function call (migration-lockfree.ts). */
  async broadcast(input: BroadcastInput): Promise<BroadcastResult> {
    const { from, content, group, channel, priority } = broadcastToSend(input, this.ctx.options);
    const at = this.ctx.now();
    const sent = await preparedRow<{
      sender_channel: string | null;
      message_id: number | null;
      recipients: string[] | null;
      webhooks: (string | null)[] | null;
    }>(this.ctx.pool, 'coord_broadcast', 'SELECT * FROM coord_broadcast($1, $2, $3, $4, $5, $6, $7)', [
      channel,
      from,
      group,
      content,
      at,
      priority,
      this.ctx.options.max_event_buffer,
    ]);
    const id = sent?.message_id ?? null;
    if (sent === undefined || id === null) {
      if (sent?.sender_channel == null) throw unknownAgent(from, 'Sender');
      throw actingElsewhere('Sender', from, sent.sender_channel, channel, 'broadcast');
    }
    const ids = sent.recipients ?? [];
    const rings: Ring[] = [];
    wake(this.ctx, [...ids.map((r) => topics.inbox(channel, r)), topics.events]);
    for (const [i, r] of ids.entries()) {
      const url = sent.webhooks?.[i] ?? null;
      if (url !== null) rings.push({ url, notice: doorbellNotice(r, channel, id, from, 'broadcast', at) });
    }
    for (const r of rings) this.ctx.doorbell.ring(r.url, r.notice);
    return { id, channel, group, sent_at: iso(at), recipients: ids, doorbells: rings.length, priority };
  }

  async poll(input: PollInput): Promise<PollResult> {
    const { agentId, channel, after, limit, timeoutMs } = pollRequest(input, this.ctx.options);
    const inbox = topics.inbox(channel, agentId);
    // Where the agent is registered, learnt from each read (an unknown agent fails the first one, before any wait; a poll
    // that skips its first read, inbox-memo.ts, learns it at its next).
    let home: string | undefined;
    // Set while this poll waits after a read that found nothing: a send on this gateway may hand it its message (handoff.ts).
    let parked: Parked | undefined;
    // What a handoff moved the cursor from (a poll on the cursor), to put it back if the caller went away.
    let handedFrom: number | undefined;
    /** The message a send handed over, if one did; either way this poll is no longer parked. */
    const handed = async (): Promise<PollOnce | undefined> => {
      const p = parked;
      if (p === undefined) return undefined;
      parked = undefined;
      this.handoffs.leave(inbox, p);
      const message = await p.offer;
      if (message === undefined) return undefined;
      if (p.onCursor) handedFrom = p.after;
      return { messages: [toMessage(message)], next_cursor: message.id, has_more: false };
    };
    // A poll appends no event and takes no id: it locks only this inbox, so polls never wait for the store's writers.
    const once = async (): Promise<PollOnce> => {
      // Reading now: no longer parked (a send that raced here did not hand over, or the read sees its message). [pg-speed]
      // Most reads were not parked: no call and no await for them (two promises a read less).
      if (parked !== undefined) await handed();
      const known = after === undefined ? this.ctx.inboxes.begin(inbox) : undefined;
      const [page, registeredIn] = await this.pollOnce(agentId, channel, after, limit, input.signal);
      if (known !== undefined && !page.has_more) this.ctx.inboxes.record(inbox, known, page.next_cursor);
      home = registeredIn;
      return page;
    };
    let page: PollOnce | undefined;
    try {
      page = await longPollAsync(
        this.ctx.notifier,
        inbox,
        timeoutMs,
        input.signal,
        async (why) => {
          if (parked?.offer !== undefined) return handed();
          // [pg-speed] The agent's previous read (or a handoff), under a second ago, left nothing past the cursor and no write
          // to the inbox was heard since: park without reading again (inbox-memo.ts, KNOWN; a wake-up after this turn's mark
          // still sends it to read: long-poll.ts, MARK).
          const empty = why === 'first' && after === undefined ? this.ctx.inboxes.emptyPast(inbox) : undefined;
          if (empty !== undefined) {
            parked = this.handoffs.park(inbox, empty, true);
            return undefined;
          }
          // A re-read without a notification (the safety net) first looks without the lock whether anything is there.
          if (why === 'recheck' && !(await this.waiting(agentId, channel, after))) return undefined;
          if (parked?.offer !== undefined) return handed();
          // A caller that left while this read waited for its batch (call-group.ts): nothing read, the cursor stays.
          const read = await once().catch((error: unknown) => {
            if (error === CALLER_GONE) return undefined;
            throw error;
          });
          if (read === undefined) return undefined;
          if (read.messages.length > 0) return read;
          parked = this.handoffs.park(inbox, read.next_cursor, after === undefined);
          return undefined;
        },
        this.ctx.recheckMs,
      );
      page ??= await handed();
    } finally {
      // Only an error gets here still parked with an offer pending; the send settles it, nobody waits for it.
      if (parked !== undefined) this.handoffs.leave(inbox, parked);
    }
    if (page !== undefined && handedFrom !== undefined && input.signal?.aborted === true) {
      // Handed over on the cursor while the caller went away: put the cursor back unless something moved it since.
      this.ctx.inboxes.touch(inbox); // the send's record (nothing past its message) no longer describes the cursor
      await this.ctx.pool.query('UPDATE cursors SET position = $3 WHERE agent_id = $1 AND channel = $2 AND position = $4', [
        agentId,
        channel,
        handedFrom,
        page.next_cursor,
      ]);
      page = undefined;
    }
    if (page === undefined) {
      if (this.ctx.isClosed()) throw new CoordError('UNAVAILABLE', SHUTDOWN.poll);
      // A caller that went away must not have the cursor moved over messages it will never see.
      page =
        input.signal?.aborted === true
          ? { messages: [], next_cursor: after ?? (await this.cursor(this.ctx.pool, agentId, channel)), has_more: false }
          : await once();
    }
    const result: PollResult = { agent_id: agentId, channel, ...page };
    if (page.messages.length === 0) {
      home ??= (await this.agents.require(this.ctx.pool, agentId)).channel;
      if (home !== channel) result.hint = pollHint(agentId, home);
    }
    return result;
  }

  /** One read of the inbox: the cursor move and the read are atomic, in one function call under the inbox's lock (coord_poll). */
  private async pollOnce(agentId: string, channel: string, after: number | undefined, limit: number, signal?: AbortSignal): Promise<[PollOnce, string]> {
    const found = await this.calls.poll([agentId, channel, after ?? null, limit, this.ctx.now()], signal);
    if (found === undefined || !found.known) throw unknownAgent(agentId);
    if (found.page === null) throw afterTooFar(after ?? 0, found.newest ?? 0);
    return [{ messages: found.page.map(toMessage), next_cursor: found.next_cursor ?? 0, has_more: found.has_more === true }, found.agent_channel];
  }

  /** Whether anything waits past the cursor (or `after`), read without the write lock. */
  private async waiting(agentId: string, channel: string, after: number | undefined): Promise<boolean> {
    const from = after ?? (await this.cursor(this.ctx.pool, agentId, channel));
    return (
      (await preparedRow(this.ctx.pool, 'coord_waiting', 'SELECT 1 FROM inbox WHERE recipient = $1 AND channel = $2 AND message_id > $3 LIMIT 1', [
        agentId,
        channel,
        from,
      ])) !== undefined
    );
  }

  private async cursor(db: Queryable, agentId: string, channel: string): Promise<number> {
    return (
      (await preparedRow<{ position: number }>(db, 'coord_cursor', 'SELECT position FROM cursors WHERE agent_id = $1 AND channel = $2', [agentId, channel]))
        ?.position ?? 0
    );
  }

  async history(query: HistoryQuery): Promise<HistoryResult> {
    const { scope, sql, values } = historySql(query, (n) => `$${n}`);
    const found = await rows<MessageRow>(this.ctx.pool, sql, values);
    return { ...scope, messages: found.map(toMessage) };
  }
}
