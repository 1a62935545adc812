import { stateEvent, stateWrite } from '../agent-state.js';
import { type AgentRow, toAgent } from '../rows.js';
import { registration, unknownAgent } from '../rules.js';
import type { Agent, DeregisterAgentResult, DiscoverQuery, RegisterAgentInput, RegisterAgentResult, SetAgentStateInput } from '../types.js';
import { UNREAD_COUNT_CAP, unreadSql } from '../unread-sql.js';
import { channelName, ident } from '../validate.js';
import { type PgContext, type PgTx, type Queryable, row, rows, write } from './context.js';

/** Messages waiting past the agent's cursors, all channels (unread-sql.ts): exact for deregister, capped for `_meta.unread`. */
const PENDING = unreadSql('postgres');
const UNREAD = unreadSql('postgres', UNREAD_COUNT_CAP);

/** What a deregistration ends besides the directory entry: ids of the released claims and returned tasks. */
export interface PgDeparture {
  claims: string[];
  tasks: string[];
}

/** The agent directory on PostgreSQL: registration, heartbeats, discovery and stale detection. */
export class PgAgents {
  /** Inside the deregister transaction: releases the agent's claims and returns its tasks (set by the store; agents come first). */
  leave: (tx: PgTx, agentId: string, at: number) => Promise<PgDeparture> = async () => ({ claims: [], tasks: [] });

  constructor(private readonly ctx: PgContext) {}

  async register(input: RegisterAgentInput): Promise<RegisterAgentResult> {
    const { id, role, capabilities, group, channel, webhook } = await registration(input, this.ctx.options);
    // [pg-speed] Not the store-wide lock: the agent's own lock, exclusive, as a deregistration takes it (sends hold it
    // shared: message-functions.ts), so a registration and a deregistration of one id never interleave. Its other
    // writes are single statements (the channel ON CONFLICT, the upsert) and its event is ordered by the watermark.
    const result = await write(
      this.ctx,
      async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock(coord_key('agent', $1))", [id]);
        const at = this.ctx.now();
        const created = (await this.find(tx, id)) === undefined;
        await tx.ensureChannel(channel, id, at);
        const saved = await row<AgentRow>(
          tx,
          `INSERT INTO agents (id, role, capabilities, group_name, channel, webhook_url, registered_at, last_heartbeat)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (id) DO UPDATE SET
           role = EXCLUDED.role, capabilities = EXCLUDED.capabilities, group_name = EXCLUDED.group_name,
           channel = EXCLUDED.channel, webhook_url = EXCLUDED.webhook_url, last_heartbeat = EXCLUDED.last_heartbeat
         RETURNING *`,
          [id, role, JSON.stringify(capabilities), group, channel, webhook, at],
        );
        await tx.appendEvent('agent_registered', channel, { agent_id: id, role, capabilities, group, re_registered: !created }, at);
        return { row: saved as AgentRow, created };
      },
      { key: `register ${id}` },
    );
    return { agent: this.toAgent(result.row), created: result.created, heartbeat_interval: this.ctx.options.heartbeat_interval };
  }

  deregister(agentId: string): Promise<DeregisterAgentResult> {
    const id = ident(agentId, 'agent_id');
    return write(this.ctx, async (tx): Promise<DeregisterAgentResult> => {
      const at = this.ctx.now();
      // The agent's writer lock (sends hold it shared: message-functions.ts), then its row, as every task write takes the agent's
      // row first (task-functions.ts): a send or claim racing this one waits, then finds no agent.
      await tx.query("SELECT pg_advisory_xact_lock(coord_key('agent', $1))", [id]);
      const found = await row<AgentRow>(tx, 'SELECT * FROM agents WHERE id = $1 FOR UPDATE', [id]);
      const pending = await this.pendingCount(tx, id);
      // Claims and tasks end even when the agent is no longer registered (claims need no registration).
      const left = await this.leave(tx, id, at);
      const ended = { released_claims: left.claims, returned_tasks: left.tasks };
      if (found === undefined) return { agent_id: id, deregistered: false, pending_messages: pending, ...ended };
      await tx.query('DELETE FROM agents WHERE id = $1', [id]);
      await tx.appendEvent('agent_deregistered', found.channel, { agent_id: id, pending_messages: pending, ...ended }, at);
      return { agent_id: id, deregistered: true, pending_messages: pending, ...ended };
    });
  }

  async heartbeat(agentId: string): Promise<Agent> {
    const id = ident(agentId, 'agent_id');
    const touched = await row<AgentRow>(this.ctx.pool, 'UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, $1) WHERE id = $2 RETURNING *', [
      this.ctx.now(),
      id,
    ]);
    if (touched === undefined) throw unknownAgent(id);
    return this.toAgent(touched);
  }

  /** Sets what the agent says it is doing (agent-state.ts), with an agent_state event; counts as activity. */
  async setState(input: SetAgentStateInput): Promise<Agent> {
    const change = stateWrite(input, this.ctx.options);
    const saved = await write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      const found = await row<AgentRow>(
        tx,
        `UPDATE agents SET state = $2, waiting_for = $3, current_file = $4, current_thread = $5,
           state_at = $6, last_heartbeat = GREATEST(last_heartbeat, $6) WHERE id = $1 RETURNING *`,
        [change.id, change.state, change.waiting_for, change.current_file, change.current_thread, at],
      );
      if (found === undefined) throw unknownAgent(change.id);
      await tx.appendEvent('agent_state', found.channel, stateEvent(change), at);
      return found;
    });
    return this.toAgent(saved);
  }

  async discover(query: DiscoverQuery): Promise<Agent[]> {
    const params: unknown[] = [channelName(query.channel)];
    const clauses = ['channel = $1'];
    const add = (sql: (n: string) => string, value: unknown): void => {
      params.push(value);
      clauses.push(sql(`$${params.length}`));
    };
    if (query.role !== undefined) add((n) => `role = ${n}`, query.role.normalize('NFC'));
    if (query.group !== undefined) add((n) => `group_name = ${n}`, query.group.normalize('NFC'));
    if (query.capability !== undefined) add((n) => `capabilities::jsonb ? ${n}`, query.capability.normalize('NFC'));
    // An explicit status wins; otherwise stale agents only with include_stale.
    const status = query.status ?? (query.include_stale === true ? undefined : 'active');
    if (status !== undefined) add((n) => (status === 'active' ? `last_heartbeat >= ${n}` : `last_heartbeat < ${n}`), this.staleBefore());
    const found = await rows<AgentRow>(this.ctx.pool, `SELECT * FROM agents WHERE ${clauses.join(' AND ')} ORDER BY id`, params);
    return found.map((r) => this.toAgent(r));
  }

  /** The agent's row, or UNKNOWN_AGENT. */
  async require(db: Queryable, agentId: string, as = 'Agent'): Promise<AgentRow> {
    const found = await this.find(db, agentId);
    if (found === undefined) throw unknownAgent(agentId, as);
    return found;
  }

  find(db: Queryable, agentId: string): Promise<AgentRow | undefined> {
    return row<AgentRow>(db, 'SELECT * FROM agents WHERE id = $1', [agentId]);
  }

  /** Counts a call by the agent as a sign of life; returns its row, or UNKNOWN_AGENT (one round trip for both). */
  async touch(tx: PgTx, agentId: string, at = this.ctx.now(), as = 'Agent'): Promise<AgentRow> {
    const touched = await row<AgentRow>(tx, 'UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, $1) WHERE id = $2 RETURNING *', [at, agentId]);
    if (touched === undefined) throw unknownAgent(agentId, as);
    return touched;
  }

  /**
   * ACTIVITY (store-methods.ts): the agent's last_heartbeat is now, when it is registered; nothing otherwise. One statement, no
   * transaction; the row is written only when its time is a second old or more (coord_seen, message-functions.ts).
   */
  async seen(agentId: string): Promise<void> {
    await this.ctx.pool.query('UPDATE agents SET last_heartbeat = $1 WHERE id = $2 AND last_heartbeat <= $1::bigint - 1000', [this.ctx.now(), agentId]);
  }

  /** Messages waiting for the agent (exact: deregister reports it). */
  async pendingCount(db: Queryable, agentId: string): Promise<number> {
    return (await row<{ n: number }>(db, PENDING, [agentId]))?.n ?? 0;
  }

  /** Messages waiting for the agent, up to UNREAD_COUNT_CAP (every tool answer carries it). */
  async unreadCount(db: Queryable, agentId: string): Promise<number> {
    return (await row<{ n: number }>(db, UNREAD, [agentId]))?.n ?? 0;
  }

  toAgent(r: AgentRow): Agent {
    return toAgent(r, this.staleBefore());
  }

  private staleBefore(): number {
    return this.ctx.now() - this.ctx.options.stale_threshold * 1000;
  }
}
