import { isGlob, moduleOfPath, modulesOverlap, overlaps, pathsOverlap } from './path-match.js';
import type { ClaimVerdict, ConflictLayer, ScoreLayer } from './work-claim-types.js';

/*
 * Impact scoring of two claims (mcp-coordinator-readme.txt, "Impact
 * Scoring"): every matching layer is listed in the breakdown, and the
 * highest one wins.
 *   same file                               100  (target_symbols: disjoint or shared symbols named)
 *   same file recently edited (60 s)        100  their holder's current_file (mux_agent_state)
 *   they modify a path you depend on, or
 *   you modify a path they depend on         80
 *   dependency file recently edited          80
 *   git co-change history (opt-in)        40–60  files changed together in the repository's history (co-change.ts)
 *   same module prefix                       30
 * Modules are the ones the agents name plus the folder of each claimed path,
 * compared by whole segments, so two agents both in src/auth/ meet at 30
 * even when they did not name a module.
 */

/** Scores of the layers. */
export const LAYER_SCORE: Record<Exclude<ConflictLayer, 'co_change'>, number> = {
  same_file: 100,
  recent_edit: 100,
  dependency: 80,
  recent_dependency: 80,
  module: 30,
};
/** The co-change layer: 40 for files changed together once, 10 more per further commit, at most 60. */
export function coChangeScore(commits: number): number {
  return Math.min(60, 40 + 10 * (commits - 1));
}
/** How long a current_file counts as recently edited. */
export const RECENT_EDIT_MS = 60_000;

/** What scoring reads of a claim (normalized paths). */
export interface ScoredTarget {
  paths: readonly string[];
  depends_on: readonly string[];
  modules: readonly string[];
  /** modulesOf(this), when the caller computed it once for many comparisons. */
  allModules?: readonly string[];
  /** Symbols (functions, types) the work touches in its files; none: the whole files. */
  target_symbols?: readonly string[];
}

/** What scoring knows besides the two claims. */
export interface ScoreExtras {
  /** Their holder's current file (normalized), when set within RECENT_EDIT_MS. */
  recentFile?: string | null;
  /** How many recent commits changed both files (0: never together), when the repository's co-change history is on. */
  coChanged?: (a: string, b: string) => number;
  /** The commits that history covers (for the reason). */
  coChangeCommits?: number;
}

export interface Impact extends ScoreLayer {
  /** Every layer that matched, highest first; the first is the impact's own. */
  breakdown: ScoreLayer[];
}

/** At most this many overlaps are named in a reason. */
const SHOWN = 3;

function pairs(found: Array<[string, string]>): string {
  const shown = found.slice(0, SHOWN).map(([mine, theirs]) => (mine === theirs ? `'${mine}'` : `'${mine}' (theirs: '${theirs}')`));
  const more = found.length > SHOWN ? ` and ${found.length - SHOWN} more` : '';
  return `${shown.join(', ')}${more}`;
}

/** Explicit modules plus the folder of each path, without repeats. */
export function modulesOf(target: ScoredTarget): readonly string[] {
  if (target.allModules !== undefined) return target.allModules;
  const all = new Set(target.modules);
  for (const path of target.paths) {
    const module = moduleOfPath(path);
    if (module !== null) all.add(module);
  }
  return [...all];
}

/** Symbols of a same-file overlap: disjoint ones are said so, shared ones named. */
function symbolNote(mine: ScoredTarget, theirs: ScoredTarget): string {
  const you = mine.target_symbols ?? [];
  const them = theirs.target_symbols ?? [];
  if (you.length === 0 || them.length === 0) return '';
  const shared = you.filter((s) => them.includes(s));
  if (shared.length > 0) return `; shared symbols: [${shared.join(', ')}]`;
  return `; disjoint symbols: you=[${you.join(', ')}], them=[${them.join(', ')}]`;
}

/** The strongest co-change between a concrete path of each side, or null. */
function coChange(mine: ScoredTarget, theirs: ScoredTarget, extras: ScoreExtras): ScoreLayer | null {
  if (extras.coChanged === undefined) return null;
  let best: { a: string; b: string; n: number } | null = null;
  for (const a of mine.paths) {
    if (isGlob(a)) continue;
    for (const b of theirs.paths) {
      if (isGlob(b) || a === b) continue;
      const n = extras.coChanged(a, b);
      if (n > 0 && (best === null || n > best.n)) best = { a, b, n };
    }
  }
  if (best === null) return null;
  const of = extras.coChangeCommits === undefined ? '' : ` of the last ${extras.coChangeCommits}`;
  return { layer: 'co_change', score: coChangeScore(best.n), reason: `co-change: '${best.a}' and '${best.b}' changed together in ${best.n}${of} commits` };
}

/** Every layer on which `theirs` meets `mine`, highest score first. */
export function scoreLayers(mine: ScoredTarget, theirs: ScoredTarget, extras: ScoreExtras = {}): ScoreLayer[] {
  const hits: ScoreLayer[] = [];
  const same = overlaps(mine.paths, theirs.paths, pathsOverlap);
  if (same.length > 0)
    hits.push({ layer: 'same_file', score: LAYER_SCORE.same_file, reason: `same file: both modify ${pairs(same)}${symbolNote(mine, theirs)}` });

  const recent = extras.recentFile ?? null;
  if (recent !== null) {
    const edited = overlaps(mine.paths, [recent], pathsOverlap);
    if (edited.length > 0)
      hits.push({ layer: 'recent_edit', score: LAYER_SCORE.recent_edit, reason: `recently edited: they edited ${pairs(edited)} in the last 60 s` });
    const read = overlaps(mine.depends_on, [recent], pathsOverlap);
    if (read.length > 0)
      hits.push({
        layer: 'recent_dependency',
        score: LAYER_SCORE.recent_dependency,
        reason: `dependency recently edited: they edited ${pairs(read)}, which you depend on, in the last 60 s`,
      });
  }

  const theyRead = overlaps(mine.paths, theirs.depends_on, pathsOverlap);
  const youRead = overlaps(mine.depends_on, theirs.paths, pathsOverlap);
  if (theyRead.length > 0 || youRead.length > 0) {
    const parts: string[] = [];
    if (theyRead.length > 0) parts.push(`you modify ${pairs(theyRead)}, which they depend on`);
    if (youRead.length > 0) parts.push(`you depend on ${pairs(youRead)}, which they modify`);
    hits.push({ layer: 'dependency', score: LAYER_SCORE.dependency, reason: `dependency: ${parts.join('; ')}` });
  }

  const history = coChange(mine, theirs, extras);
  if (history !== null) hits.push(history);

  const modules = overlaps(modulesOf(mine), modulesOf(theirs), modulesOverlap);
  if (modules.length > 0) hits.push({ layer: 'module', score: LAYER_SCORE.module, reason: `same module prefix: ${pairs(modules)}` });
  return hits.sort((a, b) => b.score - a.score);
}

/** The impact of `theirs` on `mine` (its highest layer, with the breakdown), or null when the two do not meet. */
export function scoreImpact(mine: ScoredTarget, theirs: ScoredTarget, extras: ScoreExtras = {}): Impact | null {
  const breakdown = scoreLayers(mine, theirs, extras);
  const top = breakdown[0];
  return top === undefined ? null : { ...top, breakdown };
}

/** clear below 30, caution from 30 to 89, conflict from 90. */
export function verdictOf(score: number): ClaimVerdict {
  if (score >= 90) return 'conflict';
  return score >= 30 ? 'caution' : 'clear';
}
