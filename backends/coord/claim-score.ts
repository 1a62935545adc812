import { moduleOfPath, modulesOverlap, overlaps, pathsOverlap } from './path-match.js';
import type { ClaimVerdict, ConflictLayer } from './work-claim-types.js';

/*
 * Impact scoring of two claims (mcp-coordinator-readme.txt, "Impact
 * Scoring"): the highest matching layer wins.
 *   same file                               100
 *   they modify a path you depend on, or
 *   you modify a path they depend on         80
 *   same module prefix                       30
 * Modules are the ones the agents name plus the folder of each claimed path,
 * compared by whole segments, so two agents both in src/auth/ meet at 30
 * even when they did not name a module.
 */

/** Scores of the layers. */
export const LAYER_SCORE: Record<ConflictLayer, number> = { same_file: 100, dependency: 80, module: 30 };

/** What scoring reads of a claim (normalized paths). */
export interface ScoredTarget {
  paths: readonly string[];
  depends_on: readonly string[];
  modules: readonly string[];
  /** modulesOf(this), when the caller computed it once for many comparisons. */
  allModules?: readonly string[];
}

export interface Impact {
  score: number;
  layer: ConflictLayer;
  reason: string;
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

/** The impact of `theirs` on `mine`, or null when the two do not meet. */
export function scoreImpact(mine: ScoredTarget, theirs: ScoredTarget): Impact | null {
  const same = overlaps(mine.paths, theirs.paths, pathsOverlap);
  if (same.length > 0) return { score: LAYER_SCORE.same_file, layer: 'same_file', reason: `same file: both modify ${pairs(same)}` };

  const theyRead = overlaps(mine.paths, theirs.depends_on, pathsOverlap);
  const youRead = overlaps(mine.depends_on, theirs.paths, pathsOverlap);
  if (theyRead.length > 0 || youRead.length > 0) {
    const parts: string[] = [];
    if (theyRead.length > 0) parts.push(`you modify ${pairs(theyRead)}, which they depend on`);
    if (youRead.length > 0) parts.push(`you depend on ${pairs(youRead)}, which they modify`);
    return { score: LAYER_SCORE.dependency, layer: 'dependency', reason: `dependency: ${parts.join('; ')}` };
  }

  const modules = overlaps(modulesOf(mine), modulesOf(theirs), modulesOverlap);
  if (modules.length > 0) return { score: LAYER_SCORE.module, layer: 'module', reason: `same module prefix: ${pairs(modules)}` };
  return null;
}

/** clear below 30, caution from 30 to 89, conflict from 90. */
export function verdictOf(score: number): ClaimVerdict {
  if (score >= 90) return 'conflict';
  return score >= 30 ? 'caution' : 'clear';
}
