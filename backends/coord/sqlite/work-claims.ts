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
  hotPaths,
  type LiveClaim,
  releaseIsForced,
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
  private readonly sweeper: NodeJS.Timeout;
  private readonly scorer = new ClaimScorer();

  constructor(
    private readonly ctx: SqliteContext,
    private readonly events: SqliteEvents,
    private readonly threads: SqliteThreads,
  ) {
    const { db } = ctx;
    this.insert = db.prepare(
      `INSERT INTO work_claims (id, channel, repo, agent_id, paths, depends_on, modules, intent, exclusive, status, created_at, expires_at)
       VALUES (@id, @channel, @repo, @agent_id, @paths, @depends_on, @modules, @intent, @exclusive, 'active', @at, @expires_at)`,
    );
    this.byId = db.prepare('SELECT * FROM work_claims WHERE id = ?');
    this.liveIn = db.prepare(`SELECT * FROM work_claims WHERE status = 'active' AND channel = ? AND (? IS NULL OR repo = ?) AND expires_at > ? ORDER BY seq`);
    this.live = db.prepare(`SELECT id, agent_id FROM work_claims WHERE status = 'active' AND channel = ? AND repo = ? AND expires_at > ? ORDER BY seq`);
    this.lapsed = db.prepare(`SELECT * FROM work_claims WHERE status = 'active' AND expires_at <= ? ORDER BY seq`);
    this.anyLapsed = db.prepare(`SELECT 1 AS one FROM work_claims WHERE status = 'active' AND expires_at <= ? LIMIT 1`);
    this.setStatus = db.prepare('UPDATE work_claims SET status = ?, released_at = ?, released_by = ? WHERE id = ?');
    this.extend = db.prepare('UPDATE work_claims SET expires_at = ? WHERE id = ?');
    this.sweeper = sweepTimer(ctx.options.claim_ttl_default / 2, () => this.sweep());
  }

  async announce(input: AnnounceClaimInput): Promise<AnnounceClaimResult> {
    const agent = ident(input.agent_id, 'agent_id');
    const target = claimTarget(input, 1, this.ctx.options);
    const intent = intentText(input.intent, 'intent', this.ctx.options);
    const ttl = claimTtlMs(input.ttl_seconds, this.ctx.options);
    const exclusive = input.exclusive === true;
    this.sweep(); // lapsed claims expire in their own transaction, so a refusal below does not undo that
    const result = this.ctx.db
      .transaction((): AnnounceClaimResult => {
        const at = this.ctx.now();
        const check = this.score(target, agent, at);
        const blocking = blockingConflicts(check, exclusive);
        if (blocking.length > 0) throw claimRefusal(blocking, exclusive);
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
        });
        this.ctx.appendEvent('claim_announced', target.channel, announcedEvent(id, agent, target, exclusive, check), at);
        const spec = conflictThread(id, agent, target, check.conflicts);
        const thread = spec === null ? null : this.threads.openIn(spec, at);
        return { claim: toClaim(this.mustGet(id)), ...check, thread };
      })
      .immediate();
    this.events.committed();
    if (result.thread !== null) await this.threads.notify(result.thread, agent, `opened a thread: ${result.thread.subject}`);
    return result;
  }

  /** Read-only: who holds or would conflict with these paths. */
  check(input: CheckClaimsInput): ClaimCheck {
    const agent = input.agent_id === undefined ? null : ident(input.agent_id, 'agent_id');
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
    return this.liveIn
      .all(channel, repo, repo, this.ctx.now())
      .filter((row) => agent === null || row.agent_id === agent)
      .map(toClaim);
  }

  /** Live claims, paths claimed by more than one agent, and threads that have not ended. */
  status(query: ClaimStatusQuery): ClaimStatus {
    const channel = channelName(query.channel);
    const repo = query.repo === undefined ? null : repoName(query.repo);
    const claims = this.list({ channel, repo: repo ?? undefined });
    return { channel, repo, claims, hot_paths: hotPaths(claims), threads: this.threads.active(channel, repo, query.agent_id) };
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
    return this.scorer.score(target, agent, live, (id) => this.mustGet(id));
  }

  private mustGet(claimId: string): ClaimRow {
    const row = this.byId.get(claimId);
    if (row === undefined) throw unknownClaim(claimId);
    return row;
  }
}
