import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { modulesOf, scoreImpact, verdictOf, type ScoredTarget } from '../claim-score.js';
import { claimTtlMs, moduleList, pathList, repoName, requiredText } from '../claim-validate.js';
import { CoordError } from '../errors.js';
import { pathsOverlap } from '../path-match.js';
import type {
  AnnounceClaimInput,
  AnnounceClaimResult,
  CheckClaimsInput,
  ClaimCheck,
  ClaimConflict,
  ClaimListQuery,
  ClaimStatus,
  ClaimStatusQuery,
  HotPath,
  ReleaseClaimInput,
  RenewClaimInput,
  Thread,
  WorkClaim,
  WorkClaimStatus,
} from '../types.js';
import { channelName, ident, iso, isoOrNull } from '../validate.js';
import { parseJson, type SqliteContext } from './context.js';
import type { SqliteEvents } from './events.js';
import { sweepOnce, sweepTimer } from './sweep.js';
import type { SqliteThreads } from './threads.js';

interface ClaimRow {
  seq: number;
  id: string;
  channel: string;
  repo: string;
  agent_id: string;
  paths: string;
  depends_on: string;
  modules: string;
  intent: string;
  exclusive: number;
  status: WorkClaimStatus;
  created_at: number;
  expires_at: number;
  released_at: number | null;
  released_by: string | null;
}

/** A checked claim target: scope plus normalized paths. */
interface Target extends ScoredTarget {
  channel: string;
  repo: string;
  paths: string[];
  depends_on: string[];
  modules: string[];
}

/** Score at which a claim conflicts: a thread opens, and an exclusive claim is refused. */
const CONFLICT_SCORE = 90;
/** Parsed claims kept for scoring; past this many the cache starts over. */
const PARSED_CACHE = 20_000;

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
  private readonly liveIds: Statement<[string, string, number], { id: string; agent_id: string }>;
  private readonly lapsed: Statement<[number], ClaimRow>;
  private readonly anyLapsed: Statement<[number], { one: number }>;
  private readonly setStatus: Statement<[WorkClaimStatus, number | null, string | null, string]>;
  private readonly extend: Statement<[number, string]>;
  private readonly sweeper: NodeJS.Timeout;
  private readonly parsed = new Map<string, ScoredTarget>();

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
    this.liveIn = db.prepare(
      `SELECT * FROM work_claims WHERE status = 'active' AND channel = ? AND (? IS NULL OR repo = ?) AND expires_at > ? ORDER BY seq`,
    );
    this.liveIds = db.prepare(`SELECT id, agent_id FROM work_claims WHERE status = 'active' AND channel = ? AND repo = ? AND expires_at > ? ORDER BY seq`);
    this.lapsed = db.prepare(`SELECT * FROM work_claims WHERE status = 'active' AND expires_at <= ? ORDER BY seq`);
    this.anyLapsed = db.prepare(`SELECT 1 AS one FROM work_claims WHERE status = 'active' AND expires_at <= ? LIMIT 1`);
    this.setStatus = db.prepare('UPDATE work_claims SET status = ?, released_at = ?, released_by = ? WHERE id = ?');
    this.extend = db.prepare('UPDATE work_claims SET expires_at = ? WHERE id = ?');
    this.sweeper = sweepTimer(ctx.options.claim_ttl_default / 2, () => this.sweep());
  }

  async announce(input: AnnounceClaimInput): Promise<AnnounceClaimResult> {
    const agent = ident(input.agent_id, 'agent_id');
    const target = this.target(input, 1);
    const intent = requiredText(input.intent, 'intent');
    const ttl = claimTtlMs(input.ttl_seconds, this.ctx.options);
    const exclusive = input.exclusive === true;
    this.sweep(); // lapsed claims expire in their own transaction, so a refusal below does not undo that
    const result = this.ctx.db
      .transaction((): AnnounceClaimResult => {
        const at = this.ctx.now();
        const check = this.score(target, agent, at);
        const blocking = check.conflicts.filter((c) => c.score >= CONFLICT_SCORE && (exclusive || c.exclusive));
        if (blocking.length > 0) throw refusal(blocking, exclusive);
        const id = randomUUID();
        this.ctx.ensureChannel(target.channel, agent, at);
        this.insert.run({
          id, channel: target.channel, repo: target.repo, agent_id: agent, paths: JSON.stringify(target.paths),
          depends_on: JSON.stringify(target.depends_on), modules: JSON.stringify(target.modules), intent,
          exclusive: exclusive ? 1 : 0, at, expires_at: at + ttl,
        });
        this.ctx.appendEvent('claim_announced', target.channel, {
          claim_id: id, agent_id: agent, repo: target.repo, paths: target.paths, exclusive, verdict: check.verdict, score: check.score,
          conflicts: check.conflicts.map((c) => ({ claim_id: c.claim_id, agent_id: c.agent_id, score: c.score })),
        }, at);
        const thread = this.threadFor(id, agent, target, check.conflicts, at);
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
    return this.score(this.target(input, 1), agent, this.ctx.now());
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
        if (claim.agent_id !== agent) {
          throw new CoordError('FORBIDDEN', `Claim ${claimId} is held by '${claim.agent_id}', not '${agent}'; only its holder can renew it.`, { claim_id: claimId, agent_id: claim.agent_id });
        }
        if (claim.status !== 'active' || claim.expires_at <= at) {
          throw new CoordError('CONFLICT', `Claim ${claimId} is ${claim.status === 'active' ? 'expired' : claim.status}; it cannot be renewed. Announce the work again (mux_claim_announce).`, {
            claim_id: claimId,
            status: claim.status,
          });
        }
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
        const forced = claim.agent_id !== agent;
        if (forced && !this.ctx.options.claim_admins.includes(agent)) {
          throw new CoordError(
            'FORBIDDEN',
            `Claim ${claimId} is held by '${claim.agent_id}'; only its holder or a claim admin ([coordination] claim_admins) can release it. Ask '${claim.agent_id}' (mux_send or a thread), or wait for it to expire at ${iso(claim.expires_at)}.`,
            { claim_id: claimId, agent_id: claim.agent_id, expires_at: iso(claim.expires_at) },
          );
        }
        if (claim.status !== 'active') return claim;
        this.setStatus.run('released', at, agent, claimId);
        this.ctx.appendEvent('claim_released', claim.channel, { claim_id: claimId, agent_id: claim.agent_id, repo: claim.repo, released_by: agent, forced }, at);
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
    return { channel, repo, claims, hot_paths: hotPaths(claims), threads: this.threads.active(channel, repo) };
  }

  /** Marks lapsed claims expired, in its own transaction; emits claim_expired. */
  sweep(): void {
    sweepOnce(this.ctx, this.events, (at) => this.anyLapsed.get(at) !== undefined, (at) => {
      const rows = this.lapsed.all(at);
      for (const row of rows) {
        this.setStatus.run('expired', null, null, row.id);
        this.ctx.appendEvent('claim_expired', row.channel, { claim_id: row.id, agent_id: row.agent_id, repo: row.repo, paths: parseJson<string[]>(row.paths) }, row.expires_at);
      }
      return rows.length;
    });
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private target(input: CheckClaimsInput, minPaths: number): Target {
    const target: Target = {
      channel: channelName(input.channel),
      repo: repoName(input.repo),
      paths: pathList(input.paths, 'paths', minPaths),
      depends_on: pathList(input.depends_on, 'depends_on'),
      modules: moduleList(input.modules),
    };
    return { ...target, allModules: modulesOf(target) }; // once, not per live claim scored
  }

  /** Conflicts of `target` with the live claims of agents other than `agent` in its scope, highest score first. */
  private score(target: Target, agent: string | null, at: number): ClaimCheck {
    const conflicts: ClaimConflict[] = [];
    // Only ids are read for every live claim; the rest comes from the cache,
    // and whole rows only for the claims that do conflict.
    for (const { id, agent_id: holder } of this.liveIds.all(target.channel, target.repo, at)) {
      if (holder === agent) continue;
      const impact = scoreImpact(target, this.scored(id));
      if (impact === null) continue;
      const theirs = toClaim(this.mustGet(id));
      conflicts.push({ claim_id: theirs.id, agent_id: theirs.agent_id, paths: theirs.paths, intent: theirs.intent, exclusive: theirs.exclusive, expires_at: theirs.expires_at, ...impact });
    }
    conflicts.sort((a, b) => b.score - a.score);
    const score = conflicts[0]?.score ?? 0;
    return { verdict: verdictOf(score), score, conflicts };
  }

  /**
   * The parsed paths and modules of a stored claim. They never change after
   * the insert, so they are kept by claim id: an announce scores against
   * every live claim, and parsing each one every time would dominate it.
   */
  private scored(id: string): ScoredTarget {
    let target = this.parsed.get(id);
    if (target === undefined) {
      if (this.parsed.size >= PARSED_CACHE) this.parsed.clear();
      const row = this.mustGet(id);
      const plain = { paths: parseJson<string[]>(row.paths), depends_on: parseJson<string[]>(row.depends_on), modules: parseJson<string[]>(row.modules) };
      target = { ...plain, allModules: modulesOf(plain) };
      this.parsed.set(id, target);
    }
    return target;
  }

  /** Inside the announce transaction: a thread with every agent whose claim conflicts (≥ 90), or null. */
  private threadFor(claimId: string, agent: string, target: Target, conflicts: ClaimConflict[], at: number): Thread | null {
    const serious = conflicts.filter((c) => c.score >= CONFLICT_SCORE);
    if (serious.length === 0) return null;
    const others = [...new Set(serious.map((c) => c.agent_id))];
    const shown = target.paths.length > 3 ? `${target.paths.slice(0, 3).join(', ')} and ${target.paths.length - 3} more` : target.paths.join(', ');
    const note = serious.map((c) => `${c.agent_id} (claim ${c.claim_id}, "${c.intent}"): ${c.reason}`).join('\n');
    return this.threads.openIn(
      {
        opener: agent,
        others,
        subject: `Conflict on ${shown} in ${target.repo}`,
        paths: target.paths,
        claimIds: [claimId, ...serious.map((c) => c.claim_id)],
        channel: target.channel,
        repo: target.repo,
        note: `Announced by ${agent}; conflicts with:\n${note}`,
      },
      at,
    );
  }

  private mustGet(claimId: string): ClaimRow {
    const row = this.byId.get(claimId);
    if (row === undefined) throw new CoordError('UNKNOWN_CLAIM', `No work claim with id '${claimId}'; mux_claim_list shows the live claims of a channel.`, { claim_id: claimId });
    return row;
  }
}

/** The CONFLICT that refuses an exclusive claim, naming every holder. */
function refusal(blocking: ClaimConflict[], exclusive: boolean): CoordError {
  const holders = blocking.map((c) => ({ agent_id: c.agent_id, claim_id: c.claim_id, paths: c.paths, intent: c.intent, exclusive: c.exclusive, expires_at: c.expires_at, score: c.score, reason: c.reason }));
  const first = blocking[0];
  const named = blocking.map((c) => `'${c.agent_id}' (claim ${c.claim_id}, "${c.intent}", until ${c.expires_at}${c.exclusive ? ', exclusive' : ''})`).join(', ');
  const why = exclusive ? 'Exclusive claim refused' : `Claim refused: ${first?.agent_id ?? 'another agent'} holds an exclusive claim`;
  return new CoordError(
    'CONFLICT',
    `${why}: ${first?.reason ?? 'same file'}; held by ${named}. Wait for its release or expiry, or consult the holder (mux_thread_open); without exclusive the claim is granted with the conflict listed.`,
    { verdict: 'conflict', holders },
  );
}

/** Each claimed path that claims of two or more agents overlap, with those agents. */
function hotPaths(claims: WorkClaim[]): HotPath[] {
  const found = new Map<string, HotPath>();
  for (const claim of claims) {
    for (const path of claim.paths) {
      const key = `${claim.repo}\0${path}`;
      if (found.has(key)) continue;
      const agents = new Set(claims.filter((c) => c.repo === claim.repo && c.paths.some((p) => pathsOverlap(p, path))).map((c) => c.agent_id));
      if (agents.size > 1) found.set(key, { repo: claim.repo, path, agents: [...agents].sort() });
    }
  }
  return [...found.values()];
}

function toClaim(row: ClaimRow): WorkClaim {
  return {
    id: row.id,
    agent_id: row.agent_id,
    channel: row.channel,
    repo: row.repo,
    paths: parseJson<string[]>(row.paths),
    depends_on: parseJson<string[]>(row.depends_on),
    modules: parseJson<string[]>(row.modules),
    intent: row.intent,
    exclusive: row.exclusive === 1,
    status: row.status,
    created_at: iso(row.created_at),
    expires_at: iso(row.expires_at),
    released_at: isoOrNull(row.released_at),
    released_by: row.released_by,
  };
}
