import { homedir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { modulesOf, type ScoredTarget, scoreImpact, verdictOf } from '../../backends/coord/claim-score.js';
import { CoordError } from '../../backends/coord/errors.js';
import { moduleOfPath, modulesOverlap, normalizeClaimPath, pathsOverlap, segmentsOverlap } from '../../backends/coord/path-match.js';

const claim = (paths: string[], depends_on: string[] = [], modules: string[] = []): ScoredTarget => ({ paths, depends_on, modules });

describe('normalizeClaimPath', () => {
  it('uses forward slashes and drops ., empty segments and resolvable ..', () => {
    expect(normalizeClaimPath('src\\auth\\session.ts')).toBe('src/auth/session.ts');
    expect(normalizeClaimPath('./src//auth/./session.ts')).toBe('src/auth/session.ts');
    expect(normalizeClaimPath('src/db/../auth/session.ts')).toBe('src/auth/session.ts');
    expect(normalizeClaimPath('src/auth/')).toBe('src/auth/**');
    expect(normalizeClaimPath('src/**/')).toBe('src/**');
    expect(normalizeClaimPath('.')).toBe('**');
  });

  it('refuses absolute paths, escapes out of the repository and empty or control-character paths', () => {
    for (const bad of ['/etc/passwd', 'C:\\repo\\a.ts', '../other/a.ts', 'src/../../a.ts', '**/../a', '', 'a\u0000b']) {
      expect(() => normalizeClaimPath(bad), bad).toThrow(CoordError);
    }
    expect(() => normalizeClaimPath('../x')).toThrow(/leaves the repository/);
    expect(() => normalizeClaimPath('/x')).toThrow(/absolute/);
  });
});

describe('canonical paths (#21 item 3)', () => {
  it('trims, composes Unicode to NFC and turns backslashes, so every spelling of one file is one path', () => {
    for (const spelling of [' src/a.ts', 'src/a.ts ', 'src//a.ts', './src/a.ts', 'src\\a.ts', 'src/./a.ts'])
      expect(normalizeClaimPath(spelling)).toBe('src/a.ts');
    expect(normalizeClaimPath('src/cafe\u0301.ts')).toBe('src/caf\u00e9.ts');
  });

  it('folds case only in a repository declared case-insensitive', () => {
    expect(normalizeClaimPath('SRC/A.ts', 'p', { case_insensitive: true })).toBe('src/a.ts');
    expect(normalizeClaimPath('SRC/A.ts', 'p', { case_insensitive: false })).toBe('SRC/A.ts');
  });

  it('makes absolute paths (~ included) inside a declared root relative to it, and refuses the rest', () => {
    const repo = { id: 'web', root: '/work/web' };
    expect(normalizeClaimPath('/work/web/src/a.ts', 'p', repo)).toBe('src/a.ts');
    expect(normalizeClaimPath('/work/web/src/', 'p', repo)).toBe('src/**');
    expect(normalizeClaimPath('/work/web', 'p', repo)).toBe('**');
    expect(normalizeClaimPath('C:\\Repo\\src\\a.ts', 'p', { root: 'c:/repo', case_insensitive: true })).toBe('src/a.ts');
    expect(normalizeClaimPath('~/web/a.ts', 'p', { root: `${homedir()}/web` })).toBe('a.ts');
    expect(() => normalizeClaimPath('/work/other/a.ts', 'p', repo)).toThrow(/outside the root of repository 'web'/);
    expect(() => normalizeClaimPath('/work/web/../other/a.ts', 'p', repo)).toThrow(/outside the root/);
    expect(() => normalizeClaimPath('~/a.ts')).toThrow(/absolute/);
  });

  it('refuses a blank path', () => {
    expect(() => normalizeClaimPath('   ')).toThrow(/is blank/);
  });

  it('lets a concrete path stand for the folder of that name: it meets the claims inside it', () => {
    expect(pathsOverlap('src', 'src/a.ts')).toBe(true);
    expect(pathsOverlap('src/a.ts', 'src')).toBe(true);
    expect(pathsOverlap('src', 'src/**/*.ts')).toBe(true);
    expect(pathsOverlap('src', 'srcs/a.ts')).toBe(false);
    expect(pathsOverlap('src/a.ts', 'src/b.ts')).toBe(false);
  });
});

describe('glob overlap', () => {
  it('compares segments with * and ? both ways', () => {
    expect(segmentsOverlap('session.ts', 'session.ts')).toBe(true);
    expect(segmentsOverlap('session.ts', 'session.js')).toBe(false);
    expect(segmentsOverlap('*.ts', 'session.ts')).toBe(true);
    expect(segmentsOverlap('session.ts', '*.ts')).toBe(true);
    expect(segmentsOverlap('*.ts', '*.js')).toBe(false);
    expect(segmentsOverlap('a*', '*b')).toBe(true); // "ab"
    expect(segmentsOverlap('a*c', 'b*')).toBe(false);
    expect(segmentsOverlap('s?ssion.ts', 'session.?s')).toBe(true);
    expect(segmentsOverlap('??', 'abc')).toBe(false);
    expect(segmentsOverlap('*x*', '*y*')).toBe(true); // "xy"
  });

  it('lets ** span any number of folders, zero included, on either side', () => {
    expect(pathsOverlap('src/auth/session.ts', 'src/auth/session.ts')).toBe(true);
    expect(pathsOverlap('src/auth/session.ts', 'src/auth/token.ts')).toBe(false);
    expect(pathsOverlap('src/**', 'src/auth/deep/x.ts')).toBe(true);
    expect(pathsOverlap('src/auth/deep/x.ts', 'src/**')).toBe(true);
    expect(pathsOverlap('src/**/x.ts', 'src/x.ts')).toBe(true);
    expect(pathsOverlap('src/*/x.ts', 'src/x.*')).toBe(false); // * is exactly one folder
    expect(pathsOverlap('src/*.ts', 'src/auth/x.ts')).toBe(false); // * does not cross /
    expect(pathsOverlap('src/**/*.test.ts', 'src/auth/**')).toBe(true); // glob against glob
    expect(pathsOverlap('src/**/*.test.ts', 'test/**')).toBe(false);
    expect(pathsOverlap('**', 'anything/at/all.md')).toBe(true);
    expect(pathsOverlap('a/**/b/*.ts', 'a/x/y/**')).toBe(true);
    expect(pathsOverlap('a/*/b.ts', 'a/*/c.ts')).toBe(false);
  });

  it('derives modules from folders up to the first wildcard and compares them by whole segments', () => {
    expect(moduleOfPath('src/auth/session.ts')).toBe('src/auth');
    expect(moduleOfPath('src/auth/**')).toBe('src/auth');
    expect(moduleOfPath('src/*/x.ts')).toBe('src');
    expect(moduleOfPath('README.md')).toBeNull();
    expect(moduleOfPath('**/x.ts')).toBeNull();
    expect(modulesOverlap('src/auth', 'src/auth/jwt')).toBe(true);
    expect(modulesOverlap('src/auth', 'src/authz')).toBe(false);
    expect(modulesOf(claim(['src/auth/a.ts', 'src/auth/b.ts'], [], ['billing']))).toEqual(['billing', 'src/auth']);
  });
});

describe('impact scoring', () => {
  it('scores the same file 100, naming it', () => {
    const impact = scoreImpact(claim(['src/auth/session.ts']), claim(['src/auth/session.ts', 'src/db.ts']));
    expect(impact).toMatchObject({ score: 100, layer: 'same_file' });
    expect(impact?.reason).toContain("'src/auth/session.ts'");
  });

  it('scores a glob claim against a concrete path as the same file, showing both', () => {
    const impact = scoreImpact(claim(['src/auth/**']), claim(['src/auth/session.ts']));
    expect(impact).toMatchObject({ score: 100, layer: 'same_file' });
    expect(impact?.reason).toContain("'src/auth/**' (theirs: 'src/auth/session.ts')");
  });

  it('scores 80 when one side modifies what the other depends on, in both directions', () => {
    const theyRead = scoreImpact(claim(['src/db/schema.ts']), claim(['src/api/users.ts'], ['src/db/**']));
    expect(theyRead).toMatchObject({ score: 80, layer: 'dependency' });
    expect(theyRead?.reason).toContain('which they depend on');
    const youRead = scoreImpact(claim(['src/api/users.ts'], ['src/db/schema.ts']), claim(['src/db/schema.ts']));
    expect(youRead).toMatchObject({ score: 80, layer: 'dependency' });
    expect(youRead?.reason).toContain('which they modify');
  });

  it('scores 30 for the same module prefix, from folders or named modules', () => {
    expect(scoreImpact(claim(['src/auth/session.ts']), claim(['src/auth/token.ts']))).toMatchObject({ score: 30, layer: 'module' });
    expect(scoreImpact(claim(['lib/a.ts'], [], ['auth']), claim(['pkg/b.ts'], [], ['auth/jwt']))).toMatchObject({ score: 30, layer: 'module' });
  });

  it('lets the highest layer win and returns null when nothing meets', () => {
    // Same file and same module at once: 100.
    expect(scoreImpact(claim(['src/auth/a.ts', 'src/auth/b.ts']), claim(['src/auth/b.ts'], ['src/auth/a.ts']))?.score).toBe(100);
    expect(scoreImpact(claim(['src/auth/a.ts']), claim(['docs/guide.md']))).toBeNull();
    // Reading the same file is no conflict.
    expect(scoreImpact(claim(['src/a/x.ts'], ['src/shared.ts']), claim(['src/b/y.ts'], ['src/shared.ts']))).toBeNull();
  });

  it('maps scores to verdicts: clear < 30 ≤ caution < 90 ≤ conflict', () => {
    expect([0, 29, 30, 80, 89, 90, 100].map(verdictOf)).toEqual(['clear', 'clear', 'caution', 'caution', 'caution', 'conflict', 'conflict']);
  });
});
