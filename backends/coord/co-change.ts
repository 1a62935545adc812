import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import type { CoordOptions } from './options.js';

/*
 * The opt-in co-change layer of claim scoring (claim-score.ts): files that
 * the repository's history changed in the same commits. A repository
 * declared with `co_change = true` and a `root` is read with
 * `git log --name-only`, bounded by co_change_commits and co_change_days,
 * in the background of the announce or check that needs it (never inside a
 * store transaction); scoring reads the last history loaded, refreshed when
 * it is older than REFRESH_MS. A git that fails leaves the layer out.
 */

/** What scoring reads: how many of the read commits changed both files. */
export interface CoChangeHistory {
  together: (a: string, b: string) => number;
  /** The commits read. */
  commits: number;
}

/** A history older than this is read again by the next announce or check. */
const REFRESH_MS = 60_000;
/** Commits that change more files than this are left out: a mass rename says nothing about which files belong together. */
const WIDE_COMMIT = 50;
/** The longest git may take. */
const GIT_TIMEOUT_MS = 10_000;

interface Entry {
  history?: CoChangeHistory;
  loadedAt: number;
  loading?: Promise<void>;
}

const entries = new Map<string, Entry>();

interface Source {
  key: string;
  dir: string;
  commits: number;
  days: number;
  lower: boolean;
}

function sourceOf(options: Pick<CoordOptions, 'repositories'>, repo: string): Source | undefined {
  const declared = options.repositories[repo];
  if (declared?.co_change !== true || declared.root === undefined) return undefined;
  const dir = declared.root.startsWith('~') ? `${homedir()}${declared.root.slice(1)}` : declared.root;
  const { co_change_commits: commits, co_change_days: days } = declared;
  return { key: `${dir}\0${commits}\0${days}`, dir, commits, days, lower: declared.case_insensitive };
}

/** The co-change history of `repo` as last read, or undefined (not declared, not read yet, or git failed). */
export function coChangeOf(options: Pick<CoordOptions, 'repositories'>, repo: string): CoChangeHistory | undefined {
  const source = sourceOf(options, repo);
  return source === undefined ? undefined : entries.get(source.key)?.history;
}

/** Reads `repo`'s history when it is declared and the copy is missing or old; resolves when it is there (or git failed). */
export function prepareCoChange(options: Pick<CoordOptions, 'repositories'>, repo: string | undefined): Promise<void> {
  const source = sourceOf(options, repo === undefined || repo === '' ? 'default' : repo);
  if (source === undefined) return Promise.resolve();
  const entry = entries.get(source.key) ?? { loadedAt: 0 };
  entries.set(source.key, entry);
  if (entry.loading !== undefined) return entry.loading;
  if (entry.history !== undefined && Date.now() - entry.loadedAt < REFRESH_MS) return Promise.resolve();
  entry.loading = readHistory(source)
    .then((history) => {
      entry.history = history;
    })
    .catch(() => {
      entry.history = undefined;
    })
    .finally(() => {
      entry.loadedAt = Date.now();
      entry.loading = undefined;
    });
  return entry.loading;
}

function readHistory(source: Source): Promise<CoChangeHistory> {
  const args = ['-C', source.dir, 'log', '--name-only', '--no-renames', '--format=%x1e', `-n${source.commits}`, `--since=${source.days} days ago`];
  return new Promise((resolve, reject) => {
    execFile('git', args, { timeout: GIT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error !== null) reject(error);
      else resolve(parseLog(stdout, source.lower));
    });
  });
}

/** `git log --name-only --format=%x1e` output: one record per commit, its files one a line. */
export function parseLog(log: string, lower = false): CoChangeHistory {
  const pairs = new Map<string, Map<string, number>>();
  const commits = log.split('\x1e').slice(1);
  for (const commit of commits) {
    const files = [...new Set(commit.split('\n').map((line) => (lower ? line.trim().toLowerCase() : line.trim())))].filter((f) => f !== '');
    if (files.length > WIDE_COMMIT) continue;
    for (const a of files) {
      let row = pairs.get(a);
      if (row === undefined) pairs.set(a, (row = new Map()));
      for (const b of files) if (b !== a) row.set(b, (row.get(b) ?? 0) + 1);
    }
  }
  return { commits: commits.length, together: (a, b) => pairs.get(a)?.get(b) ?? 0 };
}
