import { homedir } from 'node:os';
import { CoordError } from './errors.js';

/*
 * Paths of work claims: relative to the root of the repository the agent
 * names, with forward slashes, and possibly globs — `*` and `?` within one
 * segment, `**` for any number of segments (zero included). A trailing `/`
 * means "the folder and everything in it" (`src/auth/` is `src/auth/**`).
 * Brackets and braces are plain characters.
 *
 * Every spelling of one file comes to one canonical form before it is
 * stored or compared (docs/coordination.md, "Path rules"): trimmed, Unicode
 * NFC, backslashes turned, `.` and empty segments dropped, `..` resolved,
 * case-folded when the repository is declared case-insensitive, and an
 * absolute path (`/…`, `C:\…`, `~/…`) made relative to the repository's
 * declared root — refused when there is none or it lies outside.
 *
 * Overlap is decided exactly on these patterns: two patterns overlap when
 * some path matches both, so a glob against a concrete path and a glob
 * against a glob are both answered — conservatively in the sense that a
 * claim never misses a path it could touch. A concrete path also stands for
 * everything below it: `src` may be a folder, and a claim on it meets the
 * claims inside it (a file has nothing below it, so this costs nothing).
 */

const WILDCARD = /[*?]/;
const DRIVE = /^[A-Za-z]:/;

/** How a repository declared in [coordination.repositories] reads paths. */
export interface RepoPathRules {
  /** The repository id, named in refusals. */
  id?: string;
  /** Absolute path of its root: absolute claim paths inside it are made relative to it. */
  root?: string;
  /** Compare paths case-folded (the file system of macOS and Windows). */
  case_insensitive?: boolean;
}

/** True for `/x`, `\\server\x`, `C:\x`, `C:/x`, `~` and `~/x` (after backslashes turned). */
function isAbsolute(slashed: string): boolean {
  return slashed.startsWith('/') || DRIVE.test(slashed) || slashed === '~' || slashed.startsWith('~/');
}

/** The segments of an absolute path, `~` expanded, `.` and empty dropped, `..` resolved (never above the top). */
function absoluteSegments(slashed: string): string[] {
  const expanded = slashed === '~' || slashed.startsWith('~/') ? `${homedir().replace(/\\/g, '/')}${slashed.slice(1)}` : slashed;
  const out: string[] = [];
  for (const segment of expanded.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment !== '..') out.push(segment);
    else if (out.length > 1 || (out.length === 1 && !DRIVE.test(out[0] ?? ''))) out.pop();
  }
  return out;
}

/** An absolute path made relative to the repository's root, or a refusal. */
function insideRoot(slashed: string, repo: RepoPathRules, what: string, shown: string): string {
  const where = repo.id === undefined ? 'the repository' : `repository '${repo.id}'`;
  if (repo.root === undefined) {
    throw new CoordError(
      'BAD_REQUEST',
      `${what} '${shown}' is absolute and ${where} declares no root; give it relative to the repository root, e.g. 'src/auth/session.ts' (or declare root in [coordination.repositories.<id>]).`,
    );
  }
  const fold = (s: string): string => (repo.case_insensitive === true || DRIVE.test(s) ? s.toLowerCase() : s);
  const root = absoluteSegments(repo.root.normalize('NFC').replace(/\\/g, '/'));
  const path = absoluteSegments(slashed);
  if (path.length < root.length || !root.every((segment, i) => fold(segment) === fold(path[i] ?? ''))) {
    throw new CoordError('BAD_REQUEST', `${what} '${shown}' is outside the root of ${where} (${repo.root}); give a path inside it, relative to its root.`);
  }
  const rest = path.slice(root.length).join('/');
  return rest === '' ? '.' : `${rest}${slashed.endsWith('/') ? '/' : ''}`;
}

/**
 * The canonical form of a claimed path or glob (the comment above). Refuses
 * a blank path, a `..` that would leave the repository, and an absolute path
 * outside the repository's declared root. `what` names the field in the sentence.
 */
export function normalizeClaimPath(raw: string, what = 'path', repo: RepoPathRules = {}): string {
  const shown = raw.length > 60 ? `${raw.slice(0, 60)}…` : raw;
  // Its length is held to max_path_length before it gets here (claim-validate.ts pathList).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (raw.length === 0 || /[\u0000-\u001f\u007f]/.test(raw)) {
    throw new CoordError('BAD_REQUEST', `${what} '${shown}' is not valid: give a path of 1 or more characters without control characters.`);
  }
  const trimmed = raw.trim().normalize('NFC');
  if (trimmed === '')
    throw new CoordError('BAD_REQUEST', `${what} '${shown}' is blank; name a file or glob relative to the repository root, e.g. 'src/auth/session.ts'.`);
  let slashed = trimmed.replace(/\\/g, '/');
  if (isAbsolute(slashed)) slashed = insideRoot(slashed, repo, what, shown);
  const folder = slashed.endsWith('/');
  const out: string[] = [];
  for (const segment of slashed.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0 || out[out.length - 1] === '**') {
        throw new CoordError('BAD_REQUEST', `${what} '${shown}' leaves the repository with '..'; give a path inside it, relative to its root.`);
      }
      out.pop();
      continue;
    }
    out.push(segment);
  }
  if (out.length === 0) return '**'; // '.', './', 'a/..': the whole repository
  if (folder && out[out.length - 1] !== '**') out.push('**');
  const canonical = out.join('/');
  return repo.case_insensitive === true ? canonical.toLowerCase() : canonical;
}

/** True when the path contains a wildcard. */
export function isGlob(path: string): boolean {
  return WILDCARD.test(path);
}

/**
 * Whether two patterns can match one common sequence. A pattern is a list
 * of tokens; a star token matches any number of the other side's tokens
 * (zero included), and two other tokens meet when `meet` says so. Memoized
 * recursion over positions: a star either matches nothing or absorbs the
 * other side's next token. Used twice: for characters within a segment
 * (`*`, `?`) and for segments within a path (`**`).
 */
function patternsOverlap(a: readonly string[], b: readonly string[], star: string, meet: (p: string, q: string) => boolean): boolean {
  const seen = new Map<number, boolean>();
  const width = b.length + 1;
  const go = (i: number, j: number): boolean => {
    const key = i * width + j;
    const known = seen.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    const p = a[i];
    const q = b[j];
    if (p === undefined && q === undefined) result = true;
    else if (p === star) result = go(i + 1, j) || (q !== undefined && go(i, j + 1));
    else if (q === star) result = go(i, j + 1) || (p !== undefined && go(i + 1, j));
    else if (p === undefined || q === undefined) result = false;
    else result = meet(p, q) && go(i + 1, j + 1);
    seen.set(key, result);
    return result;
  };
  return go(0, 0);
}

const charsMeet = (p: string, q: string): boolean => p === '?' || q === '?' || p === q;

/** Whether two segment patterns (with `*` and `?`, no `/`) can match one common string. */
export function segmentsOverlap(a: string, b: string): boolean {
  if (!isGlob(a) && !isGlob(b)) return a === b;
  return patternsOverlap([...a], [...b], '*', charsMeet);
}

/** What overlap tests need of a path, worked out once per distinct path. */
interface PathShape {
  /** The text before the first wildcard (the whole path when there is none). */
  prefix: string;
  glob: boolean;
  segments: string[];
  /** A `**` segment is present. */
  deep: boolean;
}

/** Shapes by path; claims are scored again and again against the same paths. Starts over past SHAPE_CACHE. */
const shapes = new Map<string, PathShape>();
const SHAPE_CACHE = 50_000;

function shapeOf(path: string): PathShape {
  let shape = shapes.get(path);
  if (shape === undefined) {
    const wildcard = path.search(WILDCARD);
    const segments = path.split('/');
    // A concrete path also stands for everything below it (it may name a folder).
    if (wildcard < 0) segments.push('**');
    shape = { prefix: wildcard < 0 ? path : path.slice(0, wildcard), glob: wildcard >= 0, segments, deep: wildcard < 0 || segments.includes('**') };
    if (shapes.size >= SHAPE_CACHE) shapes.clear();
    shapes.set(path, shape);
  }
  return shape;
}

/**
 * Whether two normalized paths or globs can name a common file: `**` stands
 * for any number of segments, each pair of segments is compared by
 * segmentsOverlap, and a concrete path covers itself and everything below
 * it (`src` meets `src/a.ts`).
 */
export function pathsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const x = shapeOf(a);
  const y = shapeOf(b);
  if (!x.glob && !y.glob) return modulesOverlap(a, b);
  // A common match starts with both literal prefixes, so one must begin the
  // other: most pairs of unrelated paths are rejected here without recursion.
  const common = Math.min(x.prefix.length, y.prefix.length);
  if (!x.prefix.startsWith(y.prefix.slice(0, common))) return false;
  // Without ** on either side the segments pair up one to one.
  if (!x.deep && !y.deep) return x.segments.length === y.segments.length && x.segments.every((segment, i) => segmentsOverlap(segment, y.segments[i] ?? ''));
  return patternsOverlap(x.segments, y.segments, '**', segmentsOverlap);
}

/**
 * The module a path belongs to: its folder up to the first wildcard segment
 * (`src/auth/session.ts` → `src/auth`, `src/auth/**` → `src/auth`); null for
 * a file at the root or a glob with no fixed folder.
 */
export function moduleOfPath(path: string): string | null {
  const cut = path.lastIndexOf('/');
  if (cut <= 0) return null;
  let folder = path.slice(0, cut);
  const wildcard = folder.search(WILDCARD);
  if (wildcard >= 0) folder = folder.slice(0, Math.max(0, folder.lastIndexOf('/', wildcard)));
  return folder === '' ? null : folder;
}

/** Whether one module is the other or contains it, by whole segments (`src/auth` ⊃ `src/auth/jwt`, not `src/authz`). */
export function modulesOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  return long.charCodeAt(short.length) === 47 /* '/' */ && long.startsWith(short);
}

/** Pairs (mine, theirs) of two lists that overlap under `test`, in the lists' order. */
export function overlaps(mine: readonly string[], theirs: readonly string[], test: (a: string, b: string) => boolean): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (const a of mine) for (const b of theirs) if (test(a, b)) found.push([a, b]);
  return found;
}
