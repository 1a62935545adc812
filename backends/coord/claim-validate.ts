import { CoordError } from './errors.js';
import type { CoordOptions } from './options.js';
import { isGlob, normalizeClaimPath, type RepoPathRules } from './path-match.js';
import { ident } from './validate.js';
import { DEFAULT_REPO } from './work-claim-types.js';

/*
 * The semantic checks of work claims and threads, shared by every store
 * (surfaces check types with zod; these refuse with the same sentences
 * whatever the store).
 */

/** The most entries of paths, depends_on, modules or participants. */
export const MAX_LIST = 200;
/** The most characters of an intent, a thread subject or a thread message. */
export const MAX_TEXT = 8_000;

/** The repository id, defaulted and checked. */
export function repoName(repo: string | undefined): string {
  return repo === undefined || repo === '' ? DEFAULT_REPO : ident(repo, 'repo', 256);
}

/** How repository `repo` reads paths: its [coordination.repositories] entry, or case-sensitive without a root. */
export function repoRules(options: Pick<CoordOptions, 'repositories'>, repo: string): RepoPathRules {
  const declared = options.repositories[repo];
  return { id: repo, root: declared?.root, case_insensitive: declared?.case_insensitive ?? false };
}

/** Paths (or globs) in their canonical form (path-match.ts) for `repo`, de-duplicated; `min` entries at least. */
export function pathList(list: readonly string[] | undefined, what: string, min = 0, repo: RepoPathRules = {}): string[] {
  const given = list ?? [];
  if (!Array.isArray(given)) throw new CoordError('BAD_REQUEST', `${what} must be a list of relative paths.`);
  if (given.length < min)
    throw new CoordError(
      'BAD_REQUEST',
      `${what} is empty; name at least one file or glob, relative to the repository root (e.g. 'src/auth/session.ts', 'src/auth/**').`,
    );
  if (given.length > MAX_LIST)
    throw new CoordError('BAD_REQUEST', `${what} has ${given.length} entries; the limit is ${MAX_LIST}. Use globs ('src/auth/**') for many files.`);
  return [...new Set(given.map((path) => normalizeClaimPath(path, `${what} entry`, repo)))];
}

/** Module names: normalized like folders (`src/auth/` is `src/auth`), no globs. */
export function moduleList(list: readonly string[] | undefined, repo: RepoPathRules = {}): string[] {
  const modules = pathList(list, 'modules', 0, repo).map((m) => (m.endsWith('/**') ? m.slice(0, -3) : m));
  const glob = modules.find((m) => isGlob(m));
  if (glob !== undefined)
    throw new CoordError('BAD_REQUEST', `modules entry '${glob}' is a glob; name a module or folder (e.g. 'src/auth'), and put globs in paths.`);
  return [...new Set(modules)];
}

/** De-duplicated agent ids without `self`. */
export function agentList(list: readonly string[], what: string, self: string): string[] {
  if (list.length > MAX_LIST) throw new CoordError('BAD_REQUEST', `${what} has ${list.length} entries; the limit is ${MAX_LIST}.`);
  return [...new Set(list.map((id) => ident(id, `${what} entry`)))].filter((id) => id !== self);
}

/** A claim TTL in ms: claim_ttl_default when not given, cut to claim_ttl_max. */
export function claimTtlMs(seconds: number | undefined, options: CoordOptions): number {
  const wanted = seconds ?? options.claim_ttl_default;
  if (!Number.isFinite(wanted) || wanted <= 0)
    throw new CoordError('BAD_REQUEST', `ttl_seconds ${wanted} is not valid; give a number of seconds above 0 (at most ${options.claim_ttl_max}).`);
  return Math.min(wanted, options.claim_ttl_max) * 1000;
}

/** A required text of 1 to MAX_TEXT characters that is not only spaces. */
export function requiredText(text: string | undefined, what: string): string {
  if (text === undefined || text.trim() === '') throw new CoordError('BAD_REQUEST', `${what} is empty; say it in a sentence.`);
  if (text.length > MAX_TEXT)
    throw new CoordError('PAYLOAD_TOO_LARGE', `${what} is ${text.length} characters; the limit is ${MAX_TEXT}.`, { size: text.length, limit: MAX_TEXT });
  return text;
}
