import { topics } from '../../../kit/notifier.js';
import type { DoorbellNotice } from '../doorbell.js';
import { CoordError } from '../errors.js';
import { type AgentRow, doorbellNotice, type MessageRow, messageEvent, toMessage } from '../rows.js';
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
import { type PgContext, type PgTx, type Queryable, row, rows, write } from './context.js';
import { longPollAsync } from './long-poll.js';

interface Ring {
  url: string;
  notice: DoorbellNotice;
}

type PollOnce = Pick<PollResult, 'messages' | 'next_cursor' | 'has_more'>;

const INSERT_MESSAGE =
  'INSERT INTO messages (id, channel, kind, from_agent, to_agent, group_name, content, sent_at, priority) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)';

/**
 * Inboxes on PostgreSQL, with the cursor rules of the SQLite store
 * (DESIGN.md, "Delivery semantics of poll"). A message and its inbox rows
 * commit in one write transaction; the recipient's inbox topic is NOTIFYed
 * at commit, so a long-poll on any gateway wakes.
 */
export class PgMessages {
  constructor(
    private readonly ctx: PgContext,
    private readonly agents: PgAgents,
  ) {}

  /** A direct message; `threadId` makes it a thread notice (kind "thread"), sent only by the store's threads. */
  async send(input: SendInput, threadId: string | null = null): Promise<SendResult> {
    const { from, to, content, channel } = messageToSend(input, this.ctx.options);
    let ring: Ring | undefined;
    const result = await write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      const found = await rows<AgentRow>(tx, 'SELECT * FROM agents WHERE id = $1 OR id = $2', [from, to]);
      const sender = found.find((r) => r.id === from);
      if (sender === undefined) throw unknownAgent(from, 'Sender');
      if (sender.channel !== channel) throw actingElsewhere('Sender', from, sender.channel, channel, 'send');
      const recipient = found.find((r) => r.id === to);
      if (recipient === undefined) throw unknownAgent(to, 'Recipient');
      if (recipient.channel !== channel) throw recipientElsewhere(to, recipient.channel, channel);
      // One round trip: the id, the message, its inbox row and the sender's sign of life.
      const sent = await row<{ id: number }>(
        tx,
        `WITH n AS (UPDATE sequences SET value = value + 1 WHERE name = 'messages' RETURNING value),
              m AS (INSERT INTO messages (id, channel, kind, from_agent, to_agent, group_name, content, sent_at, thread_id)
                    SELECT value, $1, 'direct', $2, $3, NULL, $4, $5, $6 FROM n RETURNING id),
              i AS (INSERT INTO inbox (recipient, channel, message_id) SELECT $3, $1, id FROM m),
              t AS (UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, $5) WHERE id = $2)
         SELECT id FROM m`,
        [channel, from, to, content, at, threadId],
      );
      const id = (sent as { id: number }).id;
      await tx.appendEvent('message', channel, messageEvent(id, from, to, content, threadId), at);
      tx.notify(topics.inbox(channel, to));
      ring = recipient.webhook_url === null ? undefined : { url: recipient.webhook_url, notice: doorbellNotice(to, channel, id, from, 'direct', at) };
      return { id, channel, sent_at: iso(at), doorbells: ring === undefined ? 0 : 1 };
    });
    if (ring !== undefined) this.ctx.doorbell.ring(ring.url, ring.notice);
    return result;
  }

  async broadcast(input: BroadcastInput): Promise<BroadcastResult> {
    const { from, content, group, channel, priority } = broadcastToSend(input, this.ctx.options);
    let rings: Ring[] = [];
    const result = await write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      rings = [];
      const sender = await this.agents.touch(tx, from, at, 'Sender');
      if (sender.channel !== channel) throw actingElsewhere('Sender', from, sender.channel, channel, 'broadcast');
      await tx.ensureChannel(channel, from, at);
      const recipients = await rows<AgentRow>(
        tx,
        'SELECT * FROM agents WHERE channel = $1 AND id <> $2 AND ($3::text IS NULL OR group_name = $3) ORDER BY id',
        [channel, from, group],
      );
      const id = await tx.next('messages');
      await tx.query(INSERT_MESSAGE, [id, channel, 'broadcast', from, null, group, content, at, priority]);
      const ids = recipients.map((r) => r.id);
      await tx.query('INSERT INTO inbox (recipient, channel, message_id) SELECT r, $2, $3 FROM unnest($1::text[]) AS r', [ids, channel, id]);
      for (const r of recipients) {
        tx.notify(topics.inbox(channel, r.id));
        if (r.webhook_url !== null) rings.push({ url: r.webhook_url, notice: doorbellNotice(r.id, channel, id, from, 'broadcast', at) });
      }
      await tx.appendEvent('broadcast', channel, { message_id: id, from, group, content, recipients: ids.length, priority }, at);
      return { id, channel, group, sent_at: iso(at), recipients: ids, doorbells: rings.length, priority };
    });
    for (const r of rings) this.ctx.doorbell.ring(r.url, r.notice);
    return result;
  }

  async poll(input: PollInput): Promise<PollResult> {
    const { agentId, channel, after, limit, timeoutMs } = pollRequest(input, this.ctx.options);
    const registered = await this.agents.require(this.ctx.pool, agentId); // fail fast, before waiting
    // A poll appends no event and takes no id: it locks only this inbox, so polls never wait for the store's writers.
    const once = (): Promise<PollOnce> => write(this.ctx, (tx) => this.pollOnce(tx, agentId, channel, after, limit), { key: `inbox ${channel} ${agentId}` });
    const found = await longPollAsync(
      this.ctx.notifier,
      topics.inbox(channel, agentId),
      timeoutMs,
      input.signal,
      async (why) => {
        // A re-read without a notification (the safety net) first looks without the lock whether anything is there.
        if (why === 'recheck' && !(await this.waiting(agentId, channel, after))) return undefined;
        const page = await once();
        return page.messages.length > 0 ? page : undefined;
      },
      this.ctx.recheckMs,
    );
    let page = found;
    if (page === undefined) {
      if (this.ctx.isClosed()) throw new CoordError('UNAVAILABLE', SHUTDOWN.poll);
      // A caller that went away must not have the cursor moved over messages it will never see.
      page =
        input.signal?.aborted === true
          ? { messages: [], next_cursor: after ?? (await this.cursor(this.ctx.pool, agentId, channel)), has_more: false }
          : await once();
    }
    const result: PollResult = { agent_id: agentId, channel, ...page };
    if (page.messages.length === 0 && registered.channel !== channel) result.hint = pollHint(agentId, registered.channel);
    return result;
  }

  /** One read of the inbox inside a write transaction (the cursor move and the read are atomic). */
  private async pollOnce(tx: PgTx, agentId: string, channel: string, after: number | undefined, limit: number): Promise<PollOnce> {
    await this.agents.touch(tx, agentId);
    const cursor = await this.cursor(tx, agentId, channel);
    if (after !== undefined && after > cursor) {
      // Acknowledging ids that do not exist yet would silently skip future messages.
      const newest = (await row<{ value: number }>(tx, "SELECT value FROM sequences WHERE name = 'messages'"))?.value ?? 0;
      if (after > newest) throw afterTooFar(after, newest);
      await this.setCursor(tx, agentId, channel, after);
    }
    const from = after ?? cursor;
    const found = await rows<MessageRow>(
      tx,
      `SELECT m.* FROM inbox i JOIN messages m ON m.id = i.message_id
       WHERE i.recipient = $1 AND i.channel = $2 AND i.message_id > $3
       ORDER BY i.message_id LIMIT $4`,
      [agentId, channel, from, limit + 1],
    );
    const hasMore = found.length > limit;
    const page = hasMore ? found.slice(0, limit) : found;
    const last = page[page.length - 1];
    if (after === undefined && last !== undefined) await this.setCursor(tx, agentId, channel, last.id);
    return { messages: page.map(toMessage), next_cursor: last?.id ?? from, has_more: hasMore };
  }

  /** Whether anything waits past the cursor (or `after`), read without the write lock. */
  private async waiting(agentId: string, channel: string, after: number | undefined): Promise<boolean> {
    const from = after ?? (await this.cursor(this.ctx.pool, agentId, channel));
    return (
      (await row(this.ctx.pool, 'SELECT 1 FROM inbox WHERE recipient = $1 AND channel = $2 AND message_id > $3 LIMIT 1', [agentId, channel, from])) !==
      undefined
    );
  }

  private async cursor(db: Queryable, agentId: string, channel: string): Promise<number> {
    return (await row<{ position: number }>(db, 'SELECT position FROM cursors WHERE agent_id = $1 AND channel = $2', [agentId, channel]))?.position ?? 0;
  }

  private async setCursor(tx: PgTx, agentId: string, channel: string, to: number): Promise<void> {
    await tx.query(
      `INSERT INTO cursors (agent_id, channel, position) VALUES ($1, $2, $3)
       ON CONFLICT (agent_id, channel) DO UPDATE SET position = GREATEST(cursors.position, EXCLUDED.position)`,
      [agentId, channel, to],
    );
  }

  async history(query: HistoryQuery): Promise<HistoryResult> {
    const { scope, sql, values } = historySql(query, (n) => `$${n}`);
    const found = await rows<MessageRow>(this.ctx.pool, sql, values);
    return { ...scope, messages: found.map(toMessage) };
  }
}
