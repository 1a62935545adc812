import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaimScorer, type ClaimTarget } from '../../backends/coord/claim-rules.js';
import { coordOptions } from '../../backends/coord/options.js';
import { coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #29 item 3: the conflict score had only path layers. It now also
 * has symbols (target_symbols: disjoint symbols on one file say so), the
 * recently edited file of a claim's holder (its current_file, set within
 * 60 s: 100 on a file you modify, 80 on one you depend on), and, for a
 * repository declared with co_change, the git history of its root (files
 * changed in the same commits: 40–60), bounded by co_change_commits — each
 * layer listed in the conflict's breakdown. The repository is a real git
 * repository made here; a 2025-era MCP client and REST on one gateway.
 */

const repoDir = mkdtempSync(join(tmpdir(), 'coord-cochange-'));
const sessions = new SessionSet();
let gw: RunningGateway;

function git(...args: string[]): void {
  execFileSync('git', ['-C', repoDir, ...args], { stdio: 'ignore' });
}

/** One commit that changes `files`. */
function commit(n: number, ...files: string[]): void {
  for (const file of files) writeFileSync(join(repoDir, file), `change ${n}\n`);
  git('add', ...files);
  git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-q', '-m', `change ${n}`);
}

beforeAll(async () => {
  git('init', '-q');
  // a.ts and b.ts change together three times; the newest commit changes a.ts with c.ts.
  commit(1, 'a.ts', 'b.ts');
  commit(2, 'a.ts', 'b.ts');
  commit(3, 'a.ts', 'b.ts');
  commit(4, 'a.ts', 'c.ts');
  const repos = `
[coordination.repositories.proj]
root = ${JSON.stringify(repoDir)}
co_change = true

[coordination.repositories.recent-only]
root = ${JSON.stringify(repoDir)}
co_change = true
co_change_commits = 1
`;
  gw = await startGateway(coordToml({ stale_threshold: 3600 }, repos));
  await coordReady(gw);
  for (const agent of ['ann', 'bob', 'carol']) await rest(gw, 'POST', '/agent/register', { agent_id: agent, role: 'dev' });
});
afterAll(async () => {
  await sessions.closeAll();
  await stopAll();
  rmSync(repoDir, { recursive: true, force: true });
});

interface Layer {
  layer: string;
  score: number;
  reason: string;
}
interface Conflict extends Layer {
  agent_id: string;
  breakdown: Layer[];
}

const check = async (body: Record<string, unknown>): Promise<{ score: number; verdict: string; conflicts: Conflict[] }> =>
  (await rest(gw, 'POST', '/claim/check', { agent_id: 'ann', ...body })) as unknown as { score: number; verdict: string; conflicts: Conflict[] };

describe('issue 29.3: richer conflict scoring', () => {
  it('target_symbols: one file with disjoint symbols says so (still 100), shared symbols are named; over MCP as over REST', async () => {
    const bob = await sessions.open(gw.url, 'bob');
    await bob.ok('mux_claim_announce', { agent_id: 'bob', paths: ['src/session.ts'], intent: 'rework login', target_symbols: ['login'], repo: 'sym' });
    const disjoint = await check({ paths: ['src/session.ts'], target_symbols: ['logout'], repo: 'sym' });
    expect(disjoint.score).toBe(100);
    expect(disjoint.conflicts[0]?.reason).toContain('disjoint symbols: you=[logout], them=[login]');
    expect(disjoint.conflicts[0]?.breakdown.map((l) => l.layer)).toEqual(['same_file', 'module']);
    const shared = await check({ paths: ['src/session.ts'], target_symbols: ['login', 'refresh'], repo: 'sym' });
    expect(shared.conflicts[0]?.reason).toContain('shared symbols: [login]');
    const ann = await sessions.open(gw.url, 'ann');
    expect(await ann.ok('mux_claim_check', { agent_id: 'ann', paths: ['src/session.ts'], target_symbols: ['logout'], repo: 'sym' })).toEqual(disjoint);
  });

  it("a holder's current file counts as recently edited: 100 on a file you modify, 80 on one you depend on", async () => {
    await rest(gw, 'POST', '/claim/announce', { agent_id: 'carol', paths: ['lib/cache.ts'], intent: 'cache layer', repo: 'edits' });
    await rest(gw, 'POST', '/agent/state', { agent_id: 'carol', state: 'working', current_file: 'db/schema.ts' });
    const modify = await check({ paths: ['db/schema.ts'], repo: 'edits' });
    expect(modify).toMatchObject({ score: 100, verdict: 'conflict' });
    expect(modify.conflicts[0]).toMatchObject({ agent_id: 'carol', layer: 'recent_edit' });
    expect(modify.conflicts[0]?.reason).toContain("they edited 'db/schema.ts' in the last 60 s");
    const depend = await check({ paths: ['api/users.ts'], depends_on: ['db/schema.ts'], repo: 'edits' });
    expect(depend).toMatchObject({ score: 80, verdict: 'caution' });
    expect(depend.conflicts[0]?.breakdown).toEqual([expect.objectContaining({ layer: 'recent_dependency', score: 80 })]);
    // Without the current file, those paths do not meet carol's claim at all.
    await rest(gw, 'POST', '/agent/state', { agent_id: 'carol', state: 'working', current_file: null });
    expect((await check({ paths: ['db/schema.ts'], repo: 'edits' })).conflicts).toEqual([]);
  });

  it('co-change from the declared git repository: 60 for files changed together three times, 40 once; bounded by co_change_commits', async () => {
    await rest(gw, 'POST', '/claim/announce', { agent_id: 'bob', paths: ['b.ts'], intent: 'b', repo: 'proj' });
    await rest(gw, 'POST', '/claim/announce', { agent_id: 'carol', paths: ['c.ts'], intent: 'c', repo: 'proj' });
    const found = await check({ paths: ['a.ts'], repo: 'proj' });
    expect(found).toMatchObject({ score: 60, verdict: 'caution' });
    expect(found.conflicts.map((c) => [c.agent_id, c.layer, c.score])).toEqual([
      ['bob', 'co_change', 60],
      ['carol', 'co_change', 40],
    ]);
    expect(found.conflicts[0]?.reason).toBe("co-change: 'a.ts' and 'b.ts' changed together in 3 of the last 4 commits");
    // Only the newest commit read: a.ts met c.ts there, never b.ts.
    await rest(gw, 'POST', '/claim/announce', { agent_id: 'bob', paths: ['b.ts'], intent: 'b', repo: 'recent-only' });
    await rest(gw, 'POST', '/claim/announce', { agent_id: 'carol', paths: ['c.ts'], intent: 'c', repo: 'recent-only' });
    const bounded = await check({ paths: ['a.ts'], repo: 'recent-only' });
    expect(bounded.conflicts.map((c) => [c.agent_id, c.layer, c.score])).toEqual([['carol', 'co_change', 40]]);
    // A repository without co_change has no such layer.
    await rest(gw, 'POST', '/claim/announce', { agent_id: 'bob', paths: ['b.ts'], intent: 'b', repo: 'plain' });
    expect((await check({ paths: ['a.ts'], repo: 'plain' })).conflicts).toEqual([]);
  });

  it('a current file set more than 60 s ago no longer counts', () => {
    const target: ClaimTarget = { channel: 'default', repo: 'x', paths: ['db/schema.ts'], depends_on: [], modules: [], target_symbols: [] };
    const row = { id: 'c1', paths: '["lib/cache.ts"]', depends_on: '[]', modules: '[]' };
    const live = {
      id: 'c1',
      agent_id: 'carol',
      intent: 'i',
      exclusive: 0,
      expires_at: 0,
      holder_seen: null,
      holder_file: 'db/schema.ts',
      holder_file_at: 1_000,
    };
    const scorer = new ClaimScorer();
    const options = coordOptions();
    const at = (ms: number) => scorer.score(target, 'ann', [live], () => row as never, 0, { at: ms, options }).score;
    expect(at(1_000 + 60_000)).toBe(100);
    expect(at(1_000 + 60_001)).toBe(0);
  });
});
