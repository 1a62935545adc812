import { modulesOf, RECENT_EDIT_MS, type ScoredTarget, type ScoreExtras, scoreImpact, verdictOf } from './claim-score.js';
import { moduleList, pathList, repoName, repoRules, symbolList } from './claim-validate.js';
import { coChangeOf } from './co-change.js';
import { CoordError } from './errors.js';
import type { CoordOptions } from './options.js';
import { normalizeClaimPath, pathsOverlap } from './path-match.js';
import { parseJson } from './rows.js';
import type { ThreadSpec } from './thread-rules.js';
import type { CheckClaimsInput, ClaimCheck, ClaimConflict, HotPath, WorkClaim, WorkClaimStatus } from './types.js';
import { channelName, iso, isoOrNull } from './validate.js';

/*
 * The rules of work claims that do not depend on the engine: targets,
 * scoring against live claims, the refusal sentences and the conflict
 * thread. The SQLite and PostgreSQL stores read and write the rows; the
 * answers, refusals and events come from here, so both give the same.
 */

/** A work_claims row as both engines store it (times in ms, lists as JSON). */
export interface ClaimRow {
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
  /** Schema 6: JSON array of symbols, or NULL (none). */
  target_symbols?: string | null;
  /** The holder's last_heartbeat, when the store reads it along (LEFT JOIN agents); null for a holder not registered. */
  holder_seen?: number | null;
}

/** A checked claim target: scope plus normalized paths. */
export interface ClaimTarget extends ScoredTarget {
  channel: string;
  repo: string;
  paths: string[];
  depends_on: string[];
  modules: string[];
  target_symbols: string[];
}

/** Score at which a claim conflicts: a thread opens, and an exclusive claim is refused. */
export const CONFLICT_SCORE = 90;
/** Parsed claims kept for scoring; past this many the cache starts over. */
const PARSED_CACHE = 20_000;

/** The checked target of an announce or a check, its paths in the canonical form of its repository. */
export function claimTarget(input: CheckClaimsInput, minPaths: number, options: CoordOptions): ClaimTarget {
  const repo = repoName(input.repo);
  const rules = repoRules(options, repo);
  const target = {
    channel: channelName(input.channel),
    repo,
    paths: pathList(input.paths, 'paths', options, minPaths, rules),
    depends_on: pathList(input.depends_on, 'depends_on', options, 0, rules),
    modules: moduleList(input.modules, options, rules),
    target_symbols: symbolList(input.target_symbols, options),
  };
  return { ...target, allModules: modulesOf(target) }; // once, not per live claim scored
}

/** What a conflict shows of the claim it meets, besides its paths (which come from the scorer's cache). */
type ClaimDetails = Pick<ClaimRow, 'intent' | 'exclusive' | 'expires_at'>;

/**
 * A live claim as the scorer reads it for every one: id and holder, and the
 * details when the store reads them along (PostgreSQL, to save a round trip
 * per conflict); without them the row is read for each conflicting claim.
 */
export type LiveClaim = Pick<ClaimRow, 'id' | 'agent_id'> &
  Partial<ClaimDetails> & {
    holder_seen: number | null;
    /** The holder's current_file and when it was set (mux_agent_state): the recently-edited layers. */
    holder_file?: string | null;
    holder_file_at?: number | null;
  };

/** The SELECT list of a LiveClaim with its details, from `work_claims c LEFT JOIN agents a ON a.id = c.agent_id` (HOLDER_JOIN). */
export const LIVE_COLUMNS =
  'c.id, c.agent_id, c.intent, c.exclusive, c.expires_at, a.last_heartbeat AS holder_seen, a.current_file AS holder_file, a.state_at AS holder_file_at';

/** Claims with their holder's last sign of life (both dialects). */
export const HOLDER_JOIN = 'work_claims c LEFT JOIN agents a ON a.id = c.agent_id';

/**
 * Whether a live claim's holder is stale: registered, and silent for
 * stale_threshold (`staleBefore` = now − stale_threshold). Such a claim
 * neither blocks nor scores; lists show it with stale: true. A holder that
 * is not registered is judged by the claim's TTL alone (claims need no
 * registration, and deregistering releases them).
 */
export function holderStale(seen: number | null | undefined, staleBefore: number): boolean {
  return seen !== null && seen !== undefined && seen < staleBefore;
}

/**
 * Scores stored claims. The parsed paths and modules of a claim never change
 * after its insert, so they are kept by claim id: an announce scores against
 * every live claim, and reading and parsing each one every time would
 * dominate it. Only the few columns of LiveClaim are read per live claim.
 */
export class ClaimScorer {
  private readonly parsed = new Map<string, ScoredTarget>();

  /** Ids of `live` not parsed yet (to read before `score`); starts the cache over when it is full. */
  uncached(live: readonly LiveClaim[]): string[] {
    if (this.parsed.size >= PARSED_CACHE) this.parsed.clear();
    return live.filter((c) => !this.parsed.has(c.id)).map((c) => c.id);
  }

  /**
   * Conflicts of `target` with `live` claims of agents other than `agent`,
   * highest score first. `rowOf` gives the stored row of a claim not parsed
   * yet (those `uncached` named), and of a conflicting claim read without its
   * details. Claims of stale holders (holderStale) go to stale_conflicts and
   * count for nothing.
   */
  score(
    target: ClaimTarget,
    agent: string | null,
    live: readonly LiveClaim[],
    rowOf: (id: string) => ClaimRow,
    staleBefore: number,
    context?: { at: number; options: CoordOptions },
  ): ClaimCheck {
    const conflicts: ClaimConflict[] = [];
    const stale: ClaimConflict[] = [];
    const history = context === undefined ? undefined : coChangeOf(context.options, target.repo);
    const rules = context === undefined ? undefined : repoRules(context.options, target.repo);
    for (const claim of live) {
      if (claim.agent_id === agent) continue;
      const theirs = this.parsed.get(claim.id) ?? this.remember(rowOf(claim.id));
      const extras: ScoreExtras = { coChanged: history?.together, coChangeCommits: history?.commits };
      if (context !== undefined && rules !== undefined) extras.recentFile = recentFile(claim, context.at, rules);
      const impact = scoreImpact(target, theirs, extras);
      if (impact === null) continue;
      const held: ClaimDetails =
        claim.intent !== undefined && claim.exclusive !== undefined && claim.expires_at !== undefined
          ? { intent: claim.intent, exclusive: claim.exclusive, expires_at: claim.expires_at }
          : rowOf(claim.id);
      (holderStale(claim.holder_seen, staleBefore) ? stale : conflicts).push({
        claim_id: claim.id,
        agent_id: claim.agent_id,
        paths: [...theirs.paths],
        intent: held.intent,
        exclusive: held.exclusive === 1,
        expires_at: iso(held.expires_at),
        ...impact,
      });
    }
    conflicts.sort((a, b) => b.score - a.score);
    stale.sort((a, b) => b.score - a.score);
    const score = conflicts[0]?.score ?? 0;
    return { verdict: verdictOf(score), score, conflicts, stale_conflicts: stale };
  }

  private remember(row: ClaimRow): ScoredTarget {
    const plain = {
      paths: parseJson<string[]>(row.paths),
      depends_on: parseJson<string[]>(row.depends_on),
      modules: parseJson<string[]>(row.modules),
      target_symbols: symbolsOf(row),
    };
    const target = { ...plain, allModules: modulesOf(plain) };
    this.parsed.set(row.id, target);
    return target;
  }
}

/** A claim row's symbols (none before schema 6). */
function symbolsOf(row: Pick<ClaimRow, 'target_symbols'>): string[] {
  return row.target_symbols === undefined || row.target_symbols === null ? [] : parseJson<string[]>(row.target_symbols);
}

/** The holder's current file in the repository's canonical form, when set within RECENT_EDIT_MS (else, or when it is no repository path, null). */
function recentFile(claim: LiveClaim, at: number, rules: ReturnType<typeof repoRules>): string | null {
  return recentEdit(claim.holder_file, claim.holder_file_at, at, rules);
}

/** A current file set at `fileAt` (ms) as the recently-edited layers read it at `at`: canonical, or null when older than RECENT_EDIT_MS or outside the repository. Also the dashboard's board (board.ts). */
export function recentEdit(file: string | null | undefined, fileAt: number | null | undefined, at: number, rules: ReturnType<typeof repoRules>): string | null {
  if (file === undefined || file === null || fileAt === undefined || fileAt === null) return null;
  if (at - fileAt > RECENT_EDIT_MS) return null;
  try {
    return normalizeClaimPath(file, 'current_file', rules);
  } catch {
    return null; // a current_file outside the repository meets no claim of it
  }
}

/** Sorted canonical entries, for comparing lists as sets. */
const asSet = (list: readonly string[]): string => JSON.stringify([...new Set(list)].sort());

/**
 * Whether a live claim of the announcing agent is the same work as `target`
 * (idempotent announce): the same paths, depends_on and modules as sets, in
 * their canonical form, and the same exclusive flag. Channel, repo and agent
 * are the store's query; the intent may differ (it is replaced).
 */
export function sameWork(row: ClaimRow, target: ClaimTarget, exclusive: boolean): boolean {
  return (
    (row.exclusive === 1) === exclusive &&
    asSet(parseJson<string[]>(row.paths)) === asSet(target.paths) &&
    asSet(parseJson<string[]>(row.depends_on)) === asSet(target.depends_on) &&
    asSet(parseJson<string[]>(row.modules)) === asSet(target.modules) &&
    asSet(symbolsOf(row)) === asSet(target.target_symbols)
  );
}

/** The data of the claim_renewed event a repeated announce emits. */
export function repeatedEvent(row: ClaimRow, expiresAt: number): Record<string, unknown> {
  return { claim_id: row.id, agent_id: row.agent_id, repo: row.repo, expires_at: iso(expiresAt), repeated: true };
}

/** The conflicts that refuse an announce: serious ones, when it or the holder is exclusive. */
export function blockingConflicts(check: ClaimCheck, exclusive: boolean): ClaimConflict[] {
  return check.conflicts.filter((c) => c.score >= CONFLICT_SCORE && (exclusive || c.exclusive));
}

/** The data of a claim_announced event. */
export function announcedEvent(id: string, agent: string, target: ClaimTarget, exclusive: boolean, check: ClaimCheck): Record<string, unknown> {
  return {
    claim_id: id,
    agent_id: agent,
    repo: target.repo,
    paths: target.paths,
    exclusive,
    verdict: check.verdict,
    score: check.score,
    conflicts: check.conflicts.map((c) => ({ claim_id: c.claim_id, agent_id: c.agent_id, score: c.score })),
  };
}

/** The CONFLICT that refuses an exclusive claim, naming every holder. */
export function claimRefusal(blocking: ClaimConflict[], exclusive: boolean): CoordError {
  const holders = blocking.map((c) => ({
    agent_id: c.agent_id,
    claim_id: c.claim_id,
    paths: c.paths,
    intent: c.intent,
    exclusive: c.exclusive,
    expires_at: c.expires_at,
    score: c.score,
    reason: c.reason,
  }));
  const first = blocking[0];
  const named = blocking
    .map((c) => `'${c.agent_id}' (claim ${c.claim_id}, "${c.intent}", until ${c.expires_at}${c.exclusive ? ', exclusive' : ''})`)
    .join(', ');
  const why = exclusive ? 'Exclusive claim refused' : `Claim refused: ${first?.agent_id ?? 'another agent'} holds an exclusive claim`;
  return new CoordError(
    'CONFLICT',
    `${why}: ${first?.reason ?? 'same file'}; held by ${named}. Wait for its release or expiry, or consult the holder (mux_thread_open); without exclusive the claim is granted with the conflict listed.`,
    { verdict: 'conflict', holders },
  );
}

/** The thread an announce opens with every agent whose claim conflicts (≥ 90), or null. */
export function conflictThread(claimId: string, agent: string, target: ClaimTarget, conflicts: ClaimConflict[]): ThreadSpec | null {
  const serious = conflicts.filter((c) => c.score >= CONFLICT_SCORE);
  if (serious.length === 0) return null;
  const others = [...new Set(serious.map((c) => c.agent_id))];
  const shown = target.paths.length > 3 ? `${target.paths.slice(0, 3).join(', ')} and ${target.paths.length - 3} more` : target.paths.join(', ');
  const note = serious.map((c) => `${c.agent_id} (claim ${c.claim_id}, "${c.intent}"): ${c.reason}`).join('\n');
  return {
    opener: agent,
    others,
    subject: `Conflict on ${shown} in ${target.repo}`,
    paths: target.paths,
    claimIds: [claimId, ...serious.map((c) => c.claim_id)],
    channel: target.channel,
    repo: target.repo,
    note: `Announced by ${agent}; conflicts with:\n${note}`,
  };
}

/** Refuses a renew by anyone but the holder, or of a claim that is no longer live. */
export function assertRenewable(claim: ClaimRow, agent: string, at: number): void {
  if (claim.agent_id !== agent) {
    throw new CoordError('FORBIDDEN', `Claim ${claim.id} is held by '${claim.agent_id}', not '${agent}'; only its holder can renew it.`, {
      claim_id: claim.id,
      agent_id: claim.agent_id,
    });
  }
  if (claim.status !== 'active' || claim.expires_at <= at) {
    throw new CoordError(
      'CONFLICT',
      `Claim ${claim.id} is ${claim.status === 'active' ? 'expired' : claim.status}; it cannot be renewed. Announce the work again (mux_claim_announce).`,
      {
        claim_id: claim.id,
        status: claim.status,
      },
    );
  }
}

/** Refuses a release by anyone but the holder or a claim admin; true when it is forced (by an admin). */
export function releaseIsForced(claim: ClaimRow, agent: string, options: CoordOptions): boolean {
  const forced = claim.agent_id !== agent;
  if (forced && !options.claim_admins.includes(agent)) {
    throw new CoordError(
      'FORBIDDEN',
      `Claim ${claim.id} is held by '${claim.agent_id}'; only its holder or a claim admin ([coordination] claim_admins) can release it. Ask '${claim.agent_id}' (mux_send or a thread), or wait for it to expire at ${iso(claim.expires_at)}.`,
      { claim_id: claim.id, agent_id: claim.agent_id, expires_at: iso(claim.expires_at) },
    );
  }
  return forced;
}

export function unknownClaim(claimId: string): CoordError {
  return new CoordError('UNKNOWN_CLAIM', `No work claim with id '${claimId}'; mux_claim_list shows the live claims of a channel.`, { claim_id: claimId });
}

/** The data of the claim_released event of a claim released because its holder deregistered. */
export function releasedOnLeave(row: ClaimRow): Record<string, unknown> {
  return { claim_id: row.id, agent_id: row.agent_id, repo: row.repo, released_by: row.agent_id, forced: false, reason: 'deregistered' };
}

/** The data of a claim_expired event. */
export function expiredEvent(row: ClaimRow): Record<string, unknown> {
  return { claim_id: row.id, agent_id: row.agent_id, repo: row.repo, paths: parseJson<string[]>(row.paths) };
}

/** Each claimed path that claims of two or more agents overlap, with those agents; claims of stale holders do not count. */
export function hotPaths(all: WorkClaim[]): HotPath[] {
  const claims = all.filter((c) => !c.stale);
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

/** A claim as the tools show it; `staleBefore` (now − stale_threshold) marks a stale holder, when the row carries holder_seen. */
export function toClaim(row: ClaimRow, staleBefore = Number.NEGATIVE_INFINITY): WorkClaim {
  return {
    id: row.id,
    agent_id: row.agent_id,
    channel: row.channel,
    repo: row.repo,
    paths: parseJson<string[]>(row.paths),
    depends_on: parseJson<string[]>(row.depends_on),
    modules: parseJson<string[]>(row.modules),
    target_symbols: symbolsOf(row),
    intent: row.intent,
    exclusive: row.exclusive === 1,
    status: row.status,
    created_at: iso(row.created_at),
    expires_at: iso(row.expires_at),
    released_at: isoOrNull(row.released_at),
    released_by: row.released_by,
    stale: row.status === 'active' && holderStale(row.holder_seen, staleBefore),
  };
}
