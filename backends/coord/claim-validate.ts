import { CoordError } from './errors.js';
import { withinLimit } from './limits.js';
import type { CoordOptions } from './options.js';
import { isGlob, normalizeClaimPath, type RepoPathRules } from './path-match.js';
import { ident } from './validate.js';
import { DEFAULT_REPO } from './work-claim-types.js';

/*
 * The semantic checks of work claims and threads, shared by every store
 * (surfaces check types with zod; these refuse with the same sentences
 * whatever the store).
 */

/** The repository id, defaulted and checked. */
export function repoName(repo: string | undefined): string {
  return repo === undefined || repo === '' ? DEFAULT_REPO : ident(repo, 'repo', 256);
}

/** How repository `repo` reads paths: its [coordination.repositories] entry, or case-sensitive without a root. */
export function repoRules(options: Pick<CoordOptions, 'repositories'>, repo: string): RepoPathRules {
  const declared = options.repositories[repo];
  return { id: repo, root: declared?.root, case_insensitive: declared?.case_insensitive ?? false };
}

/** Paths (or globs) of the field `what` in their canonical form (path-match.ts) for `repo`, de-duplicated; `min` entries at least, at most max_list_entries of at most max_path_length characters. */
export function pathList(list: readonly string[] | undefined, what: string, options: CoordOptions, min = 0, repo: RepoPathRules = {}): string[] {
  const given = list ?? [];
  if (!Array.isArray(given)) throw new CoordError('BAD_REQUEST', `${what} must be a list of relative paths.`);
  if (given.length < min)
    throw new CoordError(
      'BAD_REQUEST',
      `${what} is empty; name at least one file or glob, relative to the repository root (e.g. 'src/auth/session.ts', 'src/auth/**').`,
      { field: what },
    );
  withinLimit(what, given.length, 'max_list_entries', options, "Use globs ('src/auth/**') for many files.");
  given.forEach((path, index) => {
    withinLimit(what, path.length, 'max_path_length', options, 'Claim the folder instead (a trailing /).', `${what}[${index}]`);
  });
  return [...new Set(given.map((path) => normalizeClaimPath(path, `${what} entry`, repo)))];
}

/** target_symbols: names of at most 256 characters, NFC, de-duplicated; at most max_list_entries. */
export function symbolList(list: readonly string[] | undefined, options: CoordOptions): string[] {
  const given = list ?? [];
  withinLimit('target_symbols', given.length, 'max_list_entries', options);
  return [...new Set(given.map((symbol) => ident(symbol, 'target_symbols entry', 256)))];
}

/** Module names: normalized like folders (`src/auth/` is `src/auth`), no globs. */
export function moduleList(list: readonly string[] | undefined, options: CoordOptions, repo: RepoPathRules = {}): string[] {
  const modules = pathList(list, 'modules', options, 0, repo).map((m) => (m.endsWith('/**') ? m.slice(0, -3) : m));
  const glob = modules.find((m) => isGlob(m));
  if (glob !== undefined)
    throw new CoordError('BAD_REQUEST', `modules entry '${glob}' is a glob; name a module or folder (e.g. 'src/auth'), and put globs in paths.`);
  return [...new Set(modules)];
}

/** De-duplicated agent ids without `self`; at most max_list_entries. */
export function agentList(list: readonly string[], what: string, self: string, options: CoordOptions): string[] {
  withinLimit(what, list.length, 'max_list_entries', options);
  return [...new Set(list.map((id) => ident(id, `${what} entry`)))].filter((id) => id !== self);
}

/** A claim TTL in ms: claim_ttl_default when not given, cut to claim_ttl_max. */
export function claimTtlMs(seconds: number | undefined, options: CoordOptions): number {
  const wanted = seconds ?? options.claim_ttl_default;
  if (!Number.isFinite(wanted) || wanted <= 0)
    throw new CoordError('BAD_REQUEST', `ttl_seconds ${wanted} is not valid; give a number of seconds above 0 (at most ${options.claim_ttl_max}).`);
  return Math.min(wanted, options.claim_ttl_max) * 1000;
}

/** A required text that is not only spaces; `field` is the input field a refusal blames. */
export function requiredText(text: string | undefined, what: string, field = what): string {
  if (text === undefined || text.trim() === '') throw new CoordError('BAD_REQUEST', `${what} is empty; say it in a sentence.`, { field });
  return text;
}

/** An intent or a thread subject (`field`): required, at most max_intent_length characters. */
export function intentText(text: string | undefined, field: 'intent' | 'subject', options: CoordOptions): string {
  const checked = requiredText(text, field);
  withinLimit(field, checked.length, 'max_intent_length', options, 'Say it in a few sentences; put details in a thread message or shared state.');
  return checked;
}

/** A thread message (`content`): at most max_message_size UTF-8 bytes, as a message sent with mux_send. */
export function threadMessage(content: string, options: CoordOptions): string {
  const size = Buffer.byteLength(content, 'utf8');
  if (size > options.max_message_size)
    throw new CoordError(
      'PAYLOAD_TOO_LARGE',
      `content has ${size} bytes; the limit is ${options.max_message_size} bytes (max_message_size). Send a shorter message, or put the payload in shared state and name its key.`,
      { field: 'content', size, limit: options.max_message_size },
    );
  return content;
}
