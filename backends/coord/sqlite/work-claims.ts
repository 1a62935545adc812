import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import {
  announcedEvent,
  assertRenewable,
  blockingConflicts,
  type ClaimRow,
  ClaimScorer,
  type ClaimTarget,
  claimRefusal,
  claimTarget,
  conflictThread,
  expiredEvent,
  HOLDER_JOIN,
  hotPaths,
  LIVE_COLUMNS,
  type LiveClaim,
  releasedOnLeave,
  releaseIsForced,
  repeatedEvent,
  sameWork,
  toClaim,
  unknownClaim,
} from '../claim-rules.js';
import { claimTtlMs, intentText, repoName } from '../claim-validate.js';
import { sweepTimer } from '../sweep-timer.js';
import type {
  AnnounceClaimInput,
  AnnounceClaimResult,
  CheckClaimsInput,
  ClaimCheck,
  ClaimListQuery,
  ClaimStatus,
  ClaimStatusQuery,
  ReleaseClaimInput,
  RenewClaimInput,
  WorkClaim,
  WorkClaimStatus,
} from '../types.js';
import { channelName, ident, iso } from '../validate.js';
import type { SqliteAgents } from './agents.js';
import type { SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';
import { sweepOnce } from './sweep.js';
import type { SqliteThreads } from './threads.js';

/**
 * Work claims: advisory announcements of what an agent is about to modify,
 * scored against every live claim of other agents in the same channel and
 * repository (claim-score.ts). A claim is live while its status is active
 * and its expiry is in the future; expiry is exact at read time, and a sweep
 * (lazily before writes, and on a timer) marks lapsed claims expired with a
 * claim_expired event. Announce, its conflict check, the exclusive refusal
 * and the thread it may open are one IMMEDIATE transaction, so two agents
 * racing for one file cannot both get an exclusive claim.
 */
export class SqliteWorkClaims {
  private readonly insert: Statement<[Record<string, unknown>]>;
  private readonly byId: Statement<[string], ClaimRow>;
  private readonly liveIn: Statement<[string, string | null, string | null, number], ClaimRow>;
  private readonly live: Statement<[string, string, number], LiveClaim>;
  private readonly lapsed: Statement<[number], ClaimRow>;
  private readonly anyLapsed: Statement<[number], { one: number }>;
  private readonly setStatus: Statement<[WorkClaimStatus, number | null, string | null, string]>;
  private readonly extend: Statement<[number, string]>;
  private readonly releaseAll: Statement<[number, string, string, number], ClaimRow>;
  private readonly ownLive: Statement<[string, string, string, number], ClaimRow>;
  private readonly repeat: Statement<[string, number, string]>;
  private readonly sweeper: NodeJS.Timeout;
  private readonly scorer = new ClaimScorer();

  constructor(
    private readonly ctx: SqliteContext,
    private readonly events: SqliteEvents,
    private readonly threads: SqliteThreads,
    private readonly agents: SqliteAgents,
  ) {
    const { db } = ctx;
    this.insert = db.prepare(
      `INSERT INTO work_claims (id, channel, repo, agent_id, paths, depends_on, modules, intent, exclusive, status, created_at, expires_at, target_symbols)
       VALUES (@id, @channel, @repo, @agent_id, @paths, @depends_on, @modules, @intent, @exclusive, 'active', @at, @expires_at, @target_symbols)`,
    );
    this.byId = db.prepare('SELECT * FROM work_claims WHERE id = ?');
    this.liveIn = db.prepare(
      `SELECT c.*, a.last_heartbeat AS holder_seen FROM ${HOLDER_JOIN}
       WHERE c.status = 'active' AND c.channel = ? AND (? IS NULL OR c.repo = ?) AND c.expires_at > ? ORDER BY c.seq`,
    );
    this.live = db.prepare(
      `SELECT ${LIVE_COLUMNS} FROM ${HOLDER_JOIN} WHERE c.status = 'active' AND c.channel = ? AND c.repo = ? AND c.expires_at > ? ORDER BY c.seq`,
    );
    this.lapsed = db.prepare(`SELECT * FROM work_claims WHERE status = 'active' AND expires_at <= ? ORDER BY seq`);
    this.anyLapsed = db.prepare(`SELECT 1 AS one FROM work_claims WHERE status = 'active' AND expires_at <= ? LIMIT 1`);
    this.setStatus = db.prepare('UPDATE work_claims SET status = ?, released_at = ?, released_by = ? WHERE id = ?');
    this.extend = db.prepare('UPDATE work_claims SET expires_at = ? WHERE id = ?');
    this.releaseAll = db.prepare(
      `UPDATE work_claims SET status = 'released', released_at = ?, released_by = ? WHERE agent_id = ? AND status = 'active' AND expires_at > ? RETURNING *`,
    );
    this.ownLive = db.prepare(
      `SELECT * FROM work_claims WHERE status = 'active' AND channel = ? AND repo = ? AND agent_id = ? AND expires_at > ? ORDER BY seq DESC`,
    );
    this.repeat = db.prepare('UPDATE work_claims SET intent = ?, expires_at = ? WHERE id = ?');
    this.sweeper = sweepTimer(ctx.options.claim_ttl_default / 2, () => this.sweep());
  }

  async announce(input: AnnounceClaimInput): Promise<AnnounceClaimResult> {
    const agent = ident(input.agent_id, 'agent_id');
    const target = claimTarget(input, 1, this.ctx.options);
    const intent = intentText(input.intent, 'intent', this.ctx.options);
    const ttl = claimTtlMs(input.ttl_seconds, this.ctx.options);
    const exclusive = input.exclusive === true;
    this.sweep(); // lapsed claims expire in their own transaction, so a refusal below does not undo that
    this.agents.flushTouches(); // holders' last-seen times decide which claims are stale
    let opened = false;
    const result = this.ctx.db
      .transaction((): AnnounceClaimResult => {
        const at = this.ctx.now();
        const check = this.score(target, agent, at);
        // A repeat is refused like a new claim while another agent's exclusive claim blocks it.
        const blocking = blockingConflicts(check, exclusive);
        if (blocking.length > 0) throw claimRefusal(blocking, exclusive);
        // The same work again (a retry, two announces at once): the live claim, not a second one.
        // The IMMEDIATE transaction makes this lookup and the insert below one step.
        const same = this.ownLive.all(target.channel, target.repo, agent, at).find((row) => sameWork(row, target, exclusive));
        if (same !== undefined) {
          const expiresAt = Math.max(same.expires_at, at + ttl);
          this.repeat.run(intent, expiresAt, same.id);
          this.ctx.appendEvent('claim_renewed', target.channel, repeatedEvent(same, expiresAt), at);
          return { claim: toClaim(this.mustGet(same.id)), ...check, thread: this.threads.liveThreadOf(same.id), repeated: true };
        }
        const id = randomUUID();
        this.ctx.ensureChannel(target.channel, agent, at);
        this.insert.run({
          id,
          channel: target.channel,
          repo: target.repo,
          agent_id: agent,
          paths: JSON.stringify(target.paths),
          depends_on: JSON.stringify(target.depends_on),
          modules: JSON.stringify(target.modules),
          intent,
          exclusive: exclusive ? 1 : 0,
          at,
          expires_at: at + ttl,
          target_symbols: JSON.stringify(target.target_symbols),
        });
        this.ctx.appendEvent('claim_announced', target.channel, announcedEvent(id, agent, target, exclusive, check), at);
        const spec = conflictThread(id, agent, target, check.conflicts);
        const thread = spec === null ? null : this.threads.openIn(spec, at);
        opened = thread?.created === true;
        return { claim: toClaim(this.mustGet(id)), ...check, thread: thread?.thread ?? null, repeated: false };
      })
      .immediate();
    this.events.committed();
    if (opened && result.thread !== null) await this.threads.notify(result.thread, agent, `opened a thread: ${result.thread.subject}`);
    return result;
  }

  /** Read-only: who holds or would conflict with these paths. */
  check(input: CheckClaimsInput): ClaimCheck {
    const agent = input.agent_id === undefined ? null : ident(input.agent_id, 'agent_id');
    this.agents.flushTouches();
    return this.score(claimTarget(input, 1, this.ctx.options), agent, this.ctx.now());
  }

  renew(input: RenewClaimInput): WorkClaim {
    const claimId = ident(input.claim_id, 'claim_id');
    const agent = ident(input.agent_id, 'agent_id');
    const ttl = claimTtlMs(input.ttl_seconds, this.ctx.options);
    this.sweep();
    const row = this.ctx.db
      .transaction((): ClaimRow => {
        const at = this.ctx.now();
        const claim = this.mustGet(claimId);
        assertRenewable(claim, agent, at);
        this.extend.run(at + ttl, claimId);
        this.ctx.appendEvent('claim_renewed', claim.channel, { claim_id: claimId, agent_id: agent, repo: claim.repo, expires_at: iso(at + ttl) }, at);
        return this.mustGet(claimId);
      })
      .immediate();
    this.events.committed();
    return toClaim(row);
  }

  /** Releases a claim; idempotent for a claim that already ended. */
  release(input: ReleaseClaimInput): WorkClaim {
    const claimId = ident(input.claim_id, 'claim_id');
    const agent = ident(input.agent_id, 'agent_id');
    this.sweep();
    const row = this.ctx.db
      .transaction((): ClaimRow => {
        const at = this.ctx.now();
        const claim = this.mustGet(claimId);
        const forced = releaseIsForced(claim, agent, this.ctx.options);
        if (claim.status !== 'active') return claim;
        this.setStatus.run('released', at, agent, claimId);
        this.ctx.appendEvent(
          'claim_released',
          claim.channel,
          { claim_id: claimId, agent_id: claim.agent_id, repo: claim.repo, released_by: agent, forced },
          at,
        );
        return this.mustGet(claimId);
      })
      .immediate();
    this.events.committed();
    return toClaim(row);
  }

  list(query: ClaimListQuery): WorkClaim[] {
    const channel = channelName(query.channel);
    const repo = query.repo === undefined ? null : repoName(query.repo);
    const agent = query.agent_id === undefined ? null : ident(query.agent_id, 'agent_id');
    this.agents.flushTouches();
    const at = this.ctx.now();
    const staleBefore = this.staleBefore(at);
    return this.liveIn
      .all(channel, repo, repo, at)
      .filter((row) => agent === null || row.agent_id === agent)
      .map((row) => toClaim(row, staleBefore));
  }

  /** Live claims, paths claimed by more than one agent, and threads that have not ended. */
  status(query: ClaimStatusQuery): ClaimStatus {
    const channel = channelName(query.channel);
    const repo = query.repo === undefined ? null : repoName(query.repo);
    const claims = this.list({ channel, repo: repo ?? undefined });
    return { channel, repo, claims, hot_paths: hotPaths(claims), threads: this.threads.active(channel, repo, query.agent_id) };
  }

  /** Inside the deregister transaction: releases the agent's live claims (claim_released, reason "deregistered"). Returns their ids. */
  releaseAllOf(agentId: string, at: number): string[] {
    const released = this.releaseAll.all(at, agentId, agentId, at).sort((a, b) => a.seq - b.seq);
    for (const row of released) this.ctx.appendEvent('claim_released', row.channel, releasedOnLeave(row), at);
    return released.map((row) => row.id);
  }

  /** Marks lapsed claims expired, in its own transaction; emits claim_expired. */
  sweep(): void {
    sweepOnce(
      this.ctx,
      this.events,
      (at) => this.anyLapsed.get(at) !== undefined,
      (at) => {
        const rows = this.lapsed.all(at);
        for (const row of rows) {
          this.setStatus.run('expired', null, null, row.id);
          this.ctx.appendEvent('claim_expired', row.channel, expiredEvent(row), row.expires_at);
        }
        return rows.length;
      },
    );
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Conflicts of `target` with the live claims of agents other than `agent` in its scope, highest score first. */
  private score(target: ClaimTarget, agent: string | null, at: number): ClaimCheck {
    const live = this.live.all(target.channel, target.repo, at);
    // Only ids are read for every live claim; whole rows (one by one) only for claims not parsed yet and those that conflict.
    this.scorer.uncached(live);
    return this.scorer.score(target, agent, live, (id) => this.mustGet(id), this.staleBefore(at), { at, options: this.ctx.options });
  }

  private staleBefore(at: number): number {
    return at - this.ctx.options.stale_threshold * 1000;
  }

  private mustGet(claimId: string): ClaimRow {
    const row = this.byId.get(claimId);
    if (row === undefined) throw unknownClaim(claimId);
    return row;
  }
}
