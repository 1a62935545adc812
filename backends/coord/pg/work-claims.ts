import { randomUUID } from 'node:crypto';
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
} from '../types.js';
import { channelName, ident, iso } from '../validate.js';
import { type PgContext, type PgTx, type Queryable, row, rows, write } from './context.js';
import { pgSweepTimer, sweepLapsed } from './sweep.js';
import type { PgThreads } from './threads.js';

const LAPSED = `FROM work_claims WHERE status = 'active' AND expires_at <= $1`;

/**
 * Work claims on PostgreSQL, with the scoring, refusals and events of the
 * SQLite store (claim-rules.ts). Announce runs its conflict check, the
 * exclusive refusal, the insert and the thread it may open in one write
 * transaction under the store's write lock, which every gateway on the
 * database shares: two agents racing for one file through two gateways
 * cannot both get an exclusive claim. Lapsed claims are marked expired by a
 * sweep (lazily before writes, and on a timer on every gateway).
 */
export class PgWorkClaims {
  private readonly scorer = new ClaimScorer();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ctx: PgContext,
    private readonly threads: PgThreads,
  ) {
    this.sweeper = pgSweepTimer(ctx, ctx.options.claim_ttl_default, () => this.sweep(), 'could not expire lapsed work claims');
  }

  async announce(input: AnnounceClaimInput): Promise<AnnounceClaimResult> {
    const agent = ident(input.agent_id, 'agent_id');
    const target = claimTarget(input, 1, this.ctx.options);
    const intent = intentText(input.intent, 'intent', this.ctx.options);
    const ttl = claimTtlMs(input.ttl_seconds, this.ctx.options);
    const exclusive = input.exclusive === true;
    await this.sweep(); // lapsed claims expire in their own transaction, so a refusal below does not undo that
    let opened = false;
    const result = await write(this.ctx, async (tx): Promise<AnnounceClaimResult> => {
      const at = this.ctx.now();
      const check = await this.score(tx, target, agent, at);
      // A repeat is refused like a new claim while another agent's exclusive claim blocks it.
      const blocking = blockingConflicts(check, exclusive);
      if (blocking.length > 0) throw claimRefusal(blocking, exclusive);
      // The same work again (a retry, two announces at once): the live claim, not a second one.
      // The store's write lock (every gateway on the database shares it) makes this lookup and the insert below one step.
      const own = await rows<ClaimRow>(
        tx,
        `SELECT * FROM work_claims WHERE status = 'active' AND channel = $1 AND repo = $2 AND agent_id = $3 AND expires_at > $4 ORDER BY seq DESC`,
        [target.channel, target.repo, agent, at],
      );
      const same = own.find((r) => sameWork(r, target, exclusive));
      if (same !== undefined) {
        const expiresAt = Math.max(same.expires_at, at + ttl);
        const saved = await row<ClaimRow>(tx, 'UPDATE work_claims SET intent = $1, expires_at = $2 WHERE id = $3 RETURNING *', [intent, expiresAt, same.id]);
        await tx.appendEvent('claim_renewed', target.channel, repeatedEvent(same, expiresAt), at);
        return { claim: toClaim(saved as ClaimRow), ...check, thread: await this.threads.liveThreadOf(tx, same.id), repeated: true };
      }
      const id = randomUUID();
      await tx.ensureChannel(target.channel, agent, at);
      const saved = await row<ClaimRow>(
        tx,
        `INSERT INTO work_claims (id, channel, repo, agent_id, paths, depends_on, modules, intent, exclusive, status, created_at, expires_at, target_symbols)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10, $11, $12) RETURNING *`,
        [
          id,
          target.channel,
          target.repo,
          agent,
          JSON.stringify(target.paths),
          JSON.stringify(target.depends_on),
          JSON.stringify(target.modules),
          intent,
          exclusive ? 1 : 0,
          at,
          at + ttl,
          JSON.stringify(target.target_symbols),
        ],
      );
      await tx.appendEvent('claim_announced', target.channel, announcedEvent(id, agent, target, exclusive, check), at);
      const spec = conflictThread(id, agent, target, check.conflicts);
      const thread = spec === null ? null : await this.threads.openIn(tx, spec, at);
      opened = thread?.created === true;
      return { claim: toClaim(saved as ClaimRow), ...check, thread: thread?.thread ?? null, repeated: false };
    });
    if (opened && result.thread !== null) await this.threads.notify(result.thread, agent, `opened a thread: ${result.thread.subject}`);
    return result;
  }

  /** Read-only: who holds or would conflict with these paths. */
  check(input: CheckClaimsInput): Promise<ClaimCheck> {
    const agent = input.agent_id === undefined ? null : ident(input.agent_id, 'agent_id');
    return this.score(this.ctx.pool, claimTarget(input, 1, this.ctx.options), agent, this.ctx.now());
  }

  async renew(input: RenewClaimInput): Promise<WorkClaim> {
    const claimId = ident(input.claim_id, 'claim_id');
    const agent = ident(input.agent_id, 'agent_id');
    const ttl = claimTtlMs(input.ttl_seconds, this.ctx.options);
    await this.sweep();
    const saved = await write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      const claim = await this.mustGet(tx, claimId);
      assertRenewable(claim, agent, at);
      const renewed = await row<ClaimRow>(tx, 'UPDATE work_claims SET expires_at = $1 WHERE id = $2 RETURNING *', [at + ttl, claimId]);
      await tx.appendEvent('claim_renewed', claim.channel, { claim_id: claimId, agent_id: agent, repo: claim.repo, expires_at: iso(at + ttl) }, at);
      return renewed as ClaimRow;
    });
    return toClaim(saved);
  }

  /** Releases a claim; idempotent for a claim that already ended. */
  async release(input: ReleaseClaimInput): Promise<WorkClaim> {
    const claimId = ident(input.claim_id, 'claim_id');
    const agent = ident(input.agent_id, 'agent_id');
    await this.sweep();
    const saved = await write(this.ctx, async (tx) => {
      const at = this.ctx.now();
      const claim = await this.mustGet(tx, claimId);
      const forced = releaseIsForced(claim, agent, this.ctx.options);
      if (claim.status !== 'active') return claim;
      const released = await row<ClaimRow>(tx, "UPDATE work_claims SET status = 'released', released_at = $1, released_by = $2 WHERE id = $3 RETURNING *", [
        at,
        agent,
        claimId,
      ]);
      await tx.appendEvent('claim_released', claim.channel, { claim_id: claimId, agent_id: claim.agent_id, repo: claim.repo, released_by: agent, forced }, at);
      return released as ClaimRow;
    });
    return toClaim(saved);
  }

  async list(query: ClaimListQuery): Promise<WorkClaim[]> {
    const channel = channelName(query.channel);
    const repo = query.repo === undefined ? null : repoName(query.repo);
    const agent = query.agent_id === undefined ? null : ident(query.agent_id, 'agent_id');
    const at = this.ctx.now();
    const live = await rows<ClaimRow>(
      this.ctx.pool,
      `SELECT c.*, a.last_heartbeat AS holder_seen FROM ${HOLDER_JOIN}
       WHERE c.status = 'active' AND c.channel = $1 AND ($2::text IS NULL OR c.repo = $2) AND ($3::text IS NULL OR c.agent_id = $3) AND c.expires_at > $4
       ORDER BY c.seq`,
      [channel, repo, agent, at],
    );
    const staleBefore = this.staleBefore(at);
    return live.map((r) => toClaim(r, staleBefore));
  }

  /** Live claims, paths claimed by more than one agent, and threads that have not ended. */
  async status(query: ClaimStatusQuery): Promise<ClaimStatus> {
    const channel = channelName(query.channel);
    const repo = query.repo === undefined ? null : repoName(query.repo);
    const claims = await this.list({ channel, repo: repo ?? undefined });
    return { channel, repo, claims, hot_paths: hotPaths(claims), threads: await this.threads.active(channel, repo, query.agent_id) };
  }

  /** Inside the deregister transaction: releases the agent's live claims (claim_released, reason "deregistered"). Returns their ids. */
  async releaseAllOf(tx: PgTx, agentId: string, at: number): Promise<string[]> {
    const released = await rows<ClaimRow>(
      tx,
      "UPDATE work_claims SET status = 'released', released_at = $1, released_by = $2 WHERE agent_id = $2 AND status = 'active' AND expires_at > $1 RETURNING *",
      [at, agentId],
    );
    released.sort((a, b) => a.seq - b.seq);
    for (const r of released) await tx.appendEvent('claim_released', r.channel, releasedOnLeave(r), at);
    return released.map((r) => r.id);
  }

  /** Marks lapsed claims expired, in its own transaction; emits claim_expired. */
  sweep(): Promise<void> {
    return sweepLapsed(this.ctx, `SELECT 1 ${LAPSED} LIMIT 1`, async (tx, at) => {
      const expired = await rows<ClaimRow>(
        tx,
        `UPDATE work_claims SET status = 'expired', released_at = NULL, released_by = NULL WHERE seq IN (SELECT seq ${LAPSED}) RETURNING *`,
        [at],
      );
      for (const r of expired.sort((a, b) => a.seq - b.seq)) await tx.appendEvent('claim_expired', r.channel, expiredEvent(r), r.expires_at);
    });
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Conflicts of `target` with the live claims of agents other than `agent` in its scope, highest score first. */
  private async score(db: Queryable, target: ClaimTarget, agent: string | null, at: number): Promise<ClaimCheck> {
    const live = await rows<LiveClaim>(
      db,
      `SELECT ${LIVE_COLUMNS} FROM ${HOLDER_JOIN} WHERE c.status = 'active' AND c.channel = $1 AND c.repo = $2 AND c.expires_at > $3 ORDER BY c.seq`,
      [target.channel, target.repo, at],
    );
    // Whole rows only for the claims the scorer has not parsed yet, in one read.
    const missing = this.scorer.uncached(live);
    const fetched = new Map(
      missing.length === 0 ? [] : (await rows<ClaimRow>(db, 'SELECT * FROM work_claims WHERE id = ANY($1::text[])', [missing])).map((r) => [r.id, r]),
    );
    return this.scorer.score(
      target,
      agent,
      live,
      (id) => {
        const found = fetched.get(id);
        if (found === undefined) throw unknownClaim(id);
        return found;
      },
      this.staleBefore(at),
      { at, options: this.ctx.options },
    );
  }

  private staleBefore(at: number): number {
    return at - this.ctx.options.stale_threshold * 1000;
  }

  private async mustGet(db: Queryable, claimId: string): Promise<ClaimRow> {
    const found = await row<ClaimRow>(db, 'SELECT * FROM work_claims WHERE id = $1', [claimId]);
    if (found === undefined) throw unknownClaim(claimId);
    return found;
  }
}
