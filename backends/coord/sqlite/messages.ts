import type { Statement } from 'better-sqlite3';
import { topics } from '../../../kit/notifier.js';
import type { DoorbellNotice } from '../doorbell.js';
import { CoordError } from '../errors.js';
import { doorbellNotice, type MessageRow, messageEvent, toMessage } from '../rows.js';
import { actingElsewhere, broadcastToSend, historySql, messageToSend, pollRequest } from '../rules.js';
import type {
  BroadcastInput,
  BroadcastResult,
  HistoryQuery,
  HistoryResult,
  Message,
  MessageKind,
  PollInput,
  PollResult,
  SendInput,
  SendResult,
} from '../types.js';
import { iso } from '../validate.js';
import type { AgentRow, SqliteAgents } from './agents.js';
import { byLimit } from './by-limit.js';
import type { SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';
import { raise } from './read-cache.js';

interface Ring {
  url: string;
  notice: DoorbellNotice;
}

interface PollOnce {
  messages: Message[];
  next_cursor: number;
  has_more: boolean;
}

/** A page read inside the group commit, and where the agent's cursor stands once it commits. */
interface PollWrite {
  page: PollOnce;
  position: number;
}

/**
 * A long poll waiting on an empty inbox. A send to that inbox reads the
 * poll's page inside its own transaction (`taken`), so the poll answers at
 * the send's commit, without a transaction and an event-loop turn of its own.
 */
interface Parked {
  agentId: string;
  channel: string;
  after: number | undefined;
  limit: number;
  /** Set inside a send's transaction; valid once that send's commit resolved (cleared if it failed). */
  taken?: PollWrite;
}

/**
 * Inboxes. A message is one `messages` row plus one `inbox` row per
 * recipient, written in one transaction. Each agent has a cursor per channel
 * (DESIGN.md, "Delivery semantics of poll"): a poll without `after` returns
 * what is past the cursor and moves the cursor over it (each message returned
 * once); a poll with `after = N` acknowledges up to N (the cursor never moves
 * back) and returns what follows N without moving further (at-least-once).
 */
export class SqliteMessages {
  private readonly insertMessage: Statement<[string, MessageKind, string, string | null, string | null, string, number, string | null, string | null]>;
  private readonly insertInbox: Statement<[string, string, number]>;
  private readonly cursorOf: Statement<[string, string], { position: number }>;
  private readonly setCursor: Statement<[string, string, number]>;
  private readonly inboxAfter: (limit: number) => Statement<[string, string, number], MessageRow>;
  private readonly members: Statement<[string, string, string | null, string | null], AgentRow>;
  private readonly lastId: Statement<[], { seq: number }>;
  private readonly newestIn: Statement<[string, string], number | null>;
  /** Cursor positions and the newest message id of each inbox, by topics.inbox key (ctx.cache rules). */
  private readonly cursors: Map<string, number>;
  private readonly heads: Map<string, number>;
  /** Long polls waiting, by topics.inbox key, oldest first. */
  private readonly parked = new Map<string, Parked[]>();
  /** Runs a function in a savepoint of the current transaction. */
  private readonly savepoint: <T>(work: () => T) => T;

  constructor(
    private readonly ctx: SqliteContext,
    private readonly agents: SqliteAgents,
    private readonly events: SqliteEvents,
  ) {
    const { db } = ctx;
    const nested = db.transaction((work: () => unknown) => work());
    this.savepoint = <T>(work: () => T): T => nested(work) as T;
    this.cursors = ctx.cache.map();
    this.heads = ctx.cache.map();
    this.insertMessage = db.prepare(
      'INSERT INTO messages (channel, kind, from_agent, to_agent, group_name, content, sent_at, thread_id, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertInbox = db.prepare('INSERT INTO inbox (recipient, channel, message_id) VALUES (?, ?, ?)');
    this.cursorOf = db.prepare('SELECT position FROM cursors WHERE agent_id = ? AND channel = ?');
    this.setCursor = db.prepare(
      `INSERT INTO cursors (agent_id, channel, position) VALUES (?, ?, ?)
       ON CONFLICT (agent_id, channel) DO UPDATE SET position = MAX(position, excluded.position)`,
    );
    this.inboxAfter = byLimit(
      db,
      (limit) => `SELECT m.* FROM inbox i JOIN messages m ON m.id = i.message_id
       WHERE i.recipient = ? AND i.channel = ? AND i.message_id > ?
       ORDER BY i.message_id LIMIT ${limit}`,
    );
    this.newestIn = db.prepare('SELECT MAX(message_id) FROM inbox WHERE recipient = ? AND channel = ?').pluck() as Statement<[string, string], number | null>;
    this.lastId = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`);
    this.members = db.prepare(`SELECT * FROM agents WHERE channel = ? AND id <> ? AND (? IS NULL OR group_name = ?) ORDER BY id`);
  }

  /** A direct message; `threadId` makes it a thread notice (kind "thread"), sent only by the store's threads. */
  async send(input: SendInput, threadId: string | null = null): Promise<SendResult> {
    const { from, to, content, channel } = messageToSend(input, this.ctx.options);
    let ring: Ring | undefined;
    const inbox = topics.inbox(channel, to);
    let handed: Parked | undefined;
    const sending = this.ctx.group.run((): SendResult => {
      const at = this.ctx.now();
      const sender = this.agents.require(from, 'Sender');
      if (sender.channel !== channel) throw actingElsewhere('Sender', from, sender.channel, channel, 'send');
      const recipient = this.agents.require(to, 'Recipient');
      if (recipient.channel !== channel) {
        throw new CoordError(
          'UNKNOWN_AGENT',
          `Recipient '${to}' is registered in channel '${recipient.channel}', not '${channel}'; send with channel '${recipient.channel}'.`,
          { agent_id: to, channel: recipient.channel },
        );
      }
      const id = Number(this.insertMessage.run(channel, 'direct', from, to, null, content, at, threadId, null).lastInsertRowid);
      this.insertInbox.run(to, channel, id);
      this.agents.touch(from, at);
      this.ctx.appendEvent('message', channel, messageEvent(id, from, to, content, threadId), at);
      if (recipient.webhook_url !== null) ring = { url: recipient.webhook_url, notice: doorbellNotice(to, channel, id, from, 'direct', at) };
      handed = this.handOff(inbox);
      return { id, channel, sent_at: iso(at), doorbells: ring === undefined ? 0 : 1 };
    });
    const result = await sending.catch((error: unknown) => {
      // Rolled back: the poll's page with it. The poll is still waiting; it goes back in line.
      if (handed !== undefined) {
        handed.taken = undefined;
        this.park(inbox, handed);
      }
      throw error;
    });
    raise(this.heads, inbox, result.id);
    this.ctx.notifier.notify(inbox);
    this.events.committed();
    if (ring !== undefined) this.ctx.doorbell.ring(ring.url, ring.notice);
    return result;
  }

  async broadcast(input: BroadcastInput): Promise<BroadcastResult> {
    const { from, content, group, channel, priority } = broadcastToSend(input, this.ctx.options);
    const rings: Ring[] = [];
    const result = await this.ctx.group.run((): BroadcastResult => {
      const at = this.ctx.now();
      const sender = this.agents.require(from, 'Sender');
      if (sender.channel !== channel) throw actingElsewhere('Sender', from, sender.channel, channel, 'broadcast');
      this.ctx.ensureChannel(channel, from, at);
      const recipients = this.members.all(channel, from, group, group);
      const id = Number(this.insertMessage.run(channel, 'broadcast', from, null, group, content, at, null, priority).lastInsertRowid);
      for (const r of recipients) {
        this.insertInbox.run(r.id, channel, id);
        if (r.webhook_url !== null) rings.push({ url: r.webhook_url, notice: doorbellNotice(r.id, channel, id, from, 'broadcast', at) });
      }
      this.agents.touch(from, at);
      const ids = recipients.map((r) => r.id);
      this.ctx.appendEvent('broadcast', channel, { message_id: id, from, group, content, recipients: ids.length, priority }, at);
      return { id, channel, group, sent_at: iso(at), recipients: ids, doorbells: rings.length, priority };
    });
    for (const agentId of result.recipients) {
      const inbox = topics.inbox(channel, agentId);
      raise(this.heads, inbox, result.id);
      this.ctx.notifier.notify(inbox);
    }
    this.events.committed();
    for (const r of rings) this.ctx.doorbell.ring(r.url, r.notice);
    return result;
  }

  async poll(input: PollInput): Promise<PollResult> {
    const { agentId, channel, after, limit, timeoutMs } = pollRequest(input, this.ctx.options);
    const registered = this.agents.require(agentId); // fail fast, before waiting
    this.agents.touch(agentId);
    const key = topics.inbox(channel, agentId);
    const deadline = Date.now() + timeoutMs;
    let page: PollOnce | undefined;
    // Waiting reads without writing. A poll with something to return or to
    // acknowledge joins a group commit, which reads again and moves the
    // cursor atomically (an empty page there means another poll of the same
    // inbox took the messages: wait again). A poll that waits is parked,
    // and a send to the inbox reads its page in the send's own transaction.
    // The check and the parking have no await in between, so no send can
    // commit in that gap (see Notifier).
    while (page === undefined && input.signal?.aborted !== true && !this.ctx.isClosed()) {
      let once: PollWrite | undefined;
      if (this.ready(key, agentId, channel, after)) {
        once = await this.ctx.group.run(() => this.pollOnce(agentId, channel, after, limit));
      } else {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        const parked: Parked = { agentId, channel, after, limit };
        this.park(key, parked);
        await this.ctx.notifier.wait(key, remaining, input.signal);
        this.unpark(key, parked);
        once = parked.taken;
      }
      if (once === undefined) continue;
      // Committed: the cursor copy follows (it must, or a copy left behind would make ready() spin).
      this.cursors.set(key, Math.max(this.cursors.get(key) ?? once.position, once.position));
      if (once.page.messages.length > 0) page = once.page;
    }
    if (page === undefined) {
      if (this.ctx.isClosed()) throw new CoordError('UNAVAILABLE', 'The coordination store is shutting down; poll again after it restarts. Nothing was lost.');
      // Nothing arrived in time (anything that did is read on the next poll),
      // and a caller that went away must not have the cursor moved anyway.
      page = { messages: [], next_cursor: after ?? this.cursor(key, agentId, channel), has_more: false };
    }
    const result: PollResult = { agent_id: agentId, channel, ...page };
    if (page.messages.length === 0 && registered.channel !== channel) {
      result.hint = `Agent '${agentId}' is registered in channel '${registered.channel}'; poll with channel '${registered.channel}' for its messages there.`;
    }
    return result;
  }

  private park(key: string, parked: Parked): void {
    const line = this.parked.get(key);
    if (line === undefined) this.parked.set(key, [parked]);
    else line.push(parked);
  }

  private unpark(key: string, parked: Parked): void {
    const line = this.parked.get(key);
    const at = line?.indexOf(parked) ?? -1;
    if (line === undefined || at < 0) return;
    line.splice(at, 1);
    if (line.length === 0) this.parked.delete(key);
  }

  /**
   * Inside a send's transaction: reads the page of the oldest poll parked on
   * `key`, in a savepoint (a poll that cannot be answered this way stays
   * parked and the send goes on). The poll reads it once the commit woke it.
   */
  private handOff(key: string): Parked | undefined {
    const parked = this.parked.get(key)?.[0];
    if (parked === undefined) return undefined;
    try {
      parked.taken = this.savepoint(() => this.pollOnce(parked.agentId, parked.channel, parked.after, parked.limit));
    } catch {
      return undefined;
    }
    this.unpark(key, parked);
    return parked;
  }

  /** The agent's cursor in a channel, from memory when the cache allows (`key`: topics.inbox). */
  private cursor(key: string, agentId: string, channel: string): number {
    return this.cached(this.cursors, key, () => this.cursorOf.get(agentId, channel)?.position ?? 0);
  }

  /** Whether a poll has messages to return, or an `after` to acknowledge (read-only). */
  private ready(key: string, agentId: string, channel: string, after: number | undefined): boolean {
    const cursor = this.cursor(key, agentId, channel);
    if (after !== undefined && after > cursor) return true;
    const newest = this.cached(this.heads, key, () => this.newestIn.get(agentId, channel) ?? 0);
    return newest > (after ?? cursor);
  }

  private cached(map: Map<string, number>, key: string, read: () => number): number {
    const { cache } = this.ctx;
    if (cache.readable()) {
      const value = map.get(key);
      if (value !== undefined) return value;
    }
    const value = read();
    if (cache.fillable()) map.set(key, value);
    return value;
  }

  /** One read of the inbox inside a write transaction (the cursor move and the read are atomic). */
  private pollOnce(agentId: string, channel: string, after: number | undefined, limit: number): PollWrite {
    const at = this.ctx.now();
    this.agents.touch(agentId, at);
    // The table, not the copy: an earlier poll in this group may have moved it.
    const cursor = this.cursorOf.get(agentId, channel)?.position ?? 0;
    if (after !== undefined && after > cursor) {
      // Acknowledging ids that do not exist yet would silently skip future messages.
      const newest = this.lastId.get()?.seq ?? 0;
      if (after > newest) {
        throw new CoordError('BAD_REQUEST', `after ${after} is past the newest message id ${newest}; pass the next_cursor of your last poll.`);
      }
    }
    if (after !== undefined && after > cursor) this.setCursor.run(agentId, channel, after);
    const from = after ?? cursor;
    const rows = this.inboxAfter(limit + 1).all(agentId, channel, from);
    const hasMore = rows.length > limit;
    const page = hasMore ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    if (after === undefined && last !== undefined) this.setCursor.run(agentId, channel, last.id);
    return {
      page: { messages: page.map(toMessage), next_cursor: last?.id ?? from, has_more: hasMore },
      position: Math.max(cursor, after ?? last?.id ?? cursor),
    };
  }

  history(query: HistoryQuery): HistoryResult {
    const { scope, sql, values } = historySql(query, () => '?');
    const rows = this.ctx.prepare(sql).all(...values) as MessageRow[];
    return { ...scope, messages: rows.map(toMessage) };
  }
}
