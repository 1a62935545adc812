import type { Statement, Transaction } from 'better-sqlite3';
import { type StateWrite, stateEvent, stateWrite } from '../agent-state.js';
import { CoordError } from '../errors.js';
import { type AgentRow, toAgent } from '../rows.js';
import { registration, unknownAgent } from '../rules.js';
import type { Agent, DeregisterAgentResult, DiscoverQuery, RegisterAgentInput, RegisterAgentResult, SetAgentStateInput } from '../types.js';
import { channelName, ident } from '../validate.js';
import type { SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';
import { unreadStatement } from './unread.js';

export type { AgentRow } from '../rows.js';

interface UpsertParams {
  id: string;
  role: string;
  capabilities: string;
  group_name: string | null;
  channel: string;
  webhook_url: string | null;
  at: number;
}

/** What a deregistration ends besides the directory entry: ids of the released claims and returned tasks. */
export interface Departure {
  claims: string[];
  tasks: string[];
}

/** Calls by an agent closer together than this refresh last_heartbeat in memory only. */
const TOUCH_WRITE_MS = 1_000;

/**
 * The agent directory: registration, heartbeats, discovery and stale detection.
 *
 * Any call by an agent refreshes its last_heartbeat, but writing the row on
 * every send and poll would make each poll a write transaction. touch()
 * writes at most once per TOUCH_WRITE_MS per agent; newer times wait in
 * memory and are written before anything reads last_heartbeat (discovery,
 * stats, heartbeat, register) and by a timer within TOUCH_WRITE_MS, so
 * nobody sees a time more than that old. A crash can lose under a second of
 * last-seen times, never an acknowledged write.
 */
export class SqliteAgents {
  private readonly byId: Statement<[string], AgentRow>;
  private readonly upsert: Statement<[UpsertParams]>;
  private readonly remove: Statement<[string]>;
  private readonly touchStmt: Statement<[number, string]>;
  private readonly setStateStmt: Statement<[StateWrite & { at: number }], AgentRow>;
  private readonly pending: Statement<[{ agent: string }], { n: number }>;
  /** Agent → the last_heartbeat last written by touch(). */
  private readonly written = new Map<string, number>();
  /** Agent → a newer last_heartbeat not written yet. */
  private readonly unwritten = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly writeUnwritten: Transaction<() => void>;
  /**
   * Rows by id (ctx.cache rules). Their last_heartbeat may be older than the
   * table's: what reports it (heartbeat, register, discovery) reads the table.
   */
  private readonly rows: Map<string, AgentRow>;
  /**
   * Inside the deregister transaction: releases the agent's claims and returns
   * its tasks (set by the store once those areas exist; agents come first).
   */
  leave: (agentId: string, at: number) => Departure = () => ({ claims: [], tasks: [] });

  constructor(
    private readonly ctx: SqliteContext,
    private readonly events: SqliteEvents,
  ) {
    const { db } = ctx;
    this.rows = ctx.cache.map();
    this.byId = db.prepare('SELECT * FROM agents WHERE id = ?');
    this.upsert = db.prepare(
      `INSERT INTO agents (id, role, capabilities, group_name, channel, webhook_url, registered_at, last_heartbeat)
       VALUES (@id, @role, @capabilities, @group_name, @channel, @webhook_url, @at, @at)
       ON CONFLICT (id) DO UPDATE SET
         role = excluded.role, capabilities = excluded.capabilities, group_name = excluded.group_name,
         channel = excluded.channel, webhook_url = excluded.webhook_url, last_heartbeat = excluded.last_heartbeat`,
    );
    this.remove = db.prepare('DELETE FROM agents WHERE id = ?');
    this.touchStmt = db.prepare('UPDATE agents SET last_heartbeat = MAX(last_heartbeat, ?) WHERE id = ?');
    this.pending = unreadStatement(db);
    this.setStateStmt = db.prepare(
      `UPDATE agents SET state = @state, waiting_for = @waiting_for, current_file = @current_file, current_thread = @current_thread,
         state_at = @at, last_heartbeat = MAX(last_heartbeat, @at) WHERE id = @id RETURNING *`,
    );
    this.writeUnwritten = db.transaction(() => {
      for (const [id, at] of this.unwritten) {
        this.touchStmt.run(at, id);
        this.written.set(id, at);
      }
      this.unwritten.clear();
    });
  }

  async register(input: RegisterAgentInput): Promise<RegisterAgentResult> {
    const { options, now, db } = this.ctx;
    // Checked before the transaction: it resolves DNS, and transactions must not await.
    const { id, role, capabilities, group, channel, webhook } = await registration(input, options);

    this.forget(id);
    const result = db
      .transaction((): { row: AgentRow; created: boolean } => {
        const at = now();
        const created = this.byId.get(id) === undefined;
        this.ctx.ensureChannel(channel, id, at);
        this.upsert.run({ id, role, capabilities: JSON.stringify(capabilities), group_name: group, channel, webhook_url: webhook, at });
        this.ctx.appendEvent('agent_registered', channel, { agent_id: id, role, capabilities, group, re_registered: !created }, at);
        const row = this.byId.get(id);
        if (row === undefined) throw unknownAgent(id);
        return { row, created };
      })
      .immediate();
    this.rows.set(id, result.row);
    this.events.committed();
    this.written.set(id, result.row.last_heartbeat);
    return { agent: this.toAgent(result.row), created: result.created, heartbeat_interval: options.heartbeat_interval };
  }

  deregister(agentId: string): DeregisterAgentResult {
    const id = ident(agentId, 'agent_id');
    this.forget(id);
    this.rows.delete(id);
    const result = this.ctx.db
      .transaction((): DeregisterAgentResult => {
        const at = this.ctx.now();
        const row = this.byId.get(id);
        const pending = this.pending.get({ agent: id })?.n ?? 0;
        // Claims and tasks end even when the agent is no longer registered (claims need no registration).
        const left = this.leave(id, at);
        const ended = { released_claims: left.claims, returned_tasks: left.tasks };
        if (row === undefined) return { agent_id: id, deregistered: false, pending_messages: pending, ...ended };
        this.remove.run(id);
        this.ctx.appendEvent('agent_deregistered', row.channel, { agent_id: id, pending_messages: pending, ...ended }, at);
        return { agent_id: id, deregistered: true, pending_messages: pending, ...ended };
      })
      .immediate();
    if (result.deregistered || result.released_claims.length > 0 || result.returned_tasks.length > 0) this.events.committed();
    return result;
  }

  heartbeat(agentId: string): Agent {
    const id = ident(agentId, 'agent_id');
    this.forget(id);
    this.touch(id);
    const row = this.byId.get(id);
    if (row === undefined) throw unknownAgent(id);
    return this.toAgent(row);
  }

  /** Sets what the agent says it is doing (agent-state.ts), with an agent_state event; counts as activity. */
  setState(input: SetAgentStateInput): Agent {
    const change = stateWrite(input, this.ctx.options);
    this.forget(change.id);
    const row = this.ctx.db
      .transaction((): AgentRow => {
        const at = this.ctx.now();
        const saved = this.setStateStmt.get({ ...change, at });
        if (saved === undefined) throw unknownAgent(change.id);
        this.ctx.appendEvent('agent_state', saved.channel, stateEvent(change), at);
        return saved;
      })
      .immediate();
    this.rows.set(change.id, row);
    this.written.set(change.id, row.last_heartbeat);
    this.events.committed();
    return this.toAgent(row);
  }

  discover(query: DiscoverQuery): Agent[] {
    const channel = channelName(query.channel);
    this.flushTouches();
    const staleBefore = this.ctx.now() - this.ctx.options.stale_threshold * 1000;
    const clauses = ['channel = @channel'];
    const params: Record<string, string | number> = { channel };
    if (query.role !== undefined) {
      clauses.push('role = @role');
      params.role = query.role.normalize('NFC');
    }
    if (query.group !== undefined) {
      clauses.push('group_name = @group');
      params.group = query.group.normalize('NFC');
    }
    if (query.capability !== undefined) {
      clauses.push('EXISTS (SELECT 1 FROM json_each(capabilities) WHERE value = @capability)');
      params.capability = query.capability.normalize('NFC');
    }
    // An explicit status wins; otherwise stale agents only with include_stale.
    const status = query.status ?? (query.include_stale === true ? undefined : 'active');
    if (status !== undefined) {
      clauses.push(status === 'active' ? 'last_heartbeat >= @staleBefore' : 'last_heartbeat < @staleBefore');
      params.staleBefore = staleBefore;
    }
    const rows = this.ctx.prepare(`SELECT * FROM agents WHERE ${clauses.join(' AND ')} ORDER BY id`).all(params) as AgentRow[];
    return rows.map((row) => this.toAgent(row));
  }

  /** The agent's row (from memory when the cache allows), or UNKNOWN_AGENT. Its last_heartbeat may be old. */
  require(agentId: string, as = 'Agent'): AgentRow {
    const row = this.find(agentId);
    if (row === undefined) throw unknownAgent(agentId, as);
    return row;
  }

  find(agentId: string): AgentRow | undefined {
    const { cache } = this.ctx;
    if (cache.readable()) {
      const cached = this.rows.get(agentId);
      if (cached !== undefined) return cached;
    }
    const row = this.byId.get(agentId);
    if (row !== undefined && cache.fillable()) this.rows.set(agentId, row);
    return row;
  }

  /**
   * Counts a call by the agent as a sign of life (inside or outside a
   * transaction); UNKNOWN_AGENT when it writes and finds no agent. See the
   * class comment for when it writes.
   */
  touch(agentId: string, at = this.ctx.now()): void {
    const written = this.written.get(agentId);
    if (written !== undefined && at - written < TOUCH_WRITE_MS) {
      if (at > written && at > (this.unwritten.get(agentId) ?? 0)) {
        this.unwritten.set(agentId, at);
        this.flushTimer ??= setTimeout(() => this.flushTouches(), TOUCH_WRITE_MS).unref();
      }
      return;
    }
    if (this.touchStmt.run(at, agentId).changes === 0) {
      this.rows.delete(agentId);
      throw unknownAgent(agentId);
    }
    this.written.set(agentId, at);
    this.unwritten.delete(agentId);
  }

  /** ACTIVITY (store-methods.ts): touch() for an agent that may not be registered, which is then left alone. */
  seen(agentId: string): void {
    try {
      this.touch(agentId);
    } catch (error) {
      if (!(error instanceof CoordError && error.code === 'UNKNOWN_AGENT')) throw error;
    }
  }

  /** Writes the last_heartbeat times held in memory; call before reading last_heartbeat. */
  flushTouches(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.unwritten.size > 0 && !this.ctx.isClosed()) this.writeUnwritten.immediate();
  }

  /** Drops what touch() remembers of an agent whose row is rewritten or removed. */
  private forget(agentId: string): void {
    this.written.delete(agentId);
    this.unwritten.delete(agentId);
  }

  toAgent(row: AgentRow): Agent {
    return toAgent(row, this.ctx.now() - this.ctx.options.stale_threshold * 1000);
  }
}
