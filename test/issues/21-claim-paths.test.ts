import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordSession, coordReady, coordResult, coordToml, SessionSet } from '../helpers/coord-harness.js';
import { type RunningCoord, startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { type RunningGateway, startGateway, stopAll as stopGateways } from '../helpers/harness.js';

// Issue #21, item 3: path spellings got past an exclusive claim. A leading
// space, a doubled slash, another Unicode normal form, a bare folder name or
// another case (in a repository declared case-insensitive) named the same
// file as a different path, so two agents racing with exclusive claims on
// one file both won. Now claims are compared in one canonical
// repository-relative form: each round of two exclusive announces at the same
// moment has exactly one winner, over REST and MCP in every combination.

const NFC = 'caf\u00e9.ts';
const NFD = 'cafe\u0301.ts';

/** Two spellings of one file (or a folder and a file in it); `{d}` is a folder unique to the round. */
const SPELLINGS: ReadonlyArray<{ name: string; repo: string; a: string; b: string }> = [
  { name: 'a leading space', repo: 'plain', a: 'src/{d}/a.ts', b: ' src/{d}/a.ts' },
  { name: 'a trailing space', repo: 'plain', a: 'src/{d}/a.ts', b: 'src/{d}/a.ts ' },
  { name: 'a doubled slash', repo: 'plain', a: 'src/{d}/a.ts', b: 'src//{d}/a.ts' },
  { name: 'NFD against NFC', repo: 'plain', a: `src/{d}/${NFC}`, b: `src/{d}/${NFD}` },
  { name: 'a bare folder against a file in it', repo: 'plain', a: 'src/{d}', b: 'src/{d}/a.ts' },
  { name: 'another case in a case-insensitive repository', repo: 'mac', a: 'src/{d}/a.ts', b: 'SRC/{d}/A.ts' },
  { name: 'an absolute path inside the declared root', repo: 'mac', a: 'src/{d}/a.ts', b: '/work/mac/src/{d}/a.ts' },
  { name: 'backslashes and ./', repo: 'plain', a: 'src/{d}/a.ts', b: '.\\src\\{d}\\a.ts' },
];

/** Who announces how in each round: every combination of the two surfaces. */
const ROUNDS: ReadonlyArray<readonly ['rest' | 'mcp', 'rest' | 'mcp']> = [
  ['rest', 'mcp'],
  ['mcp', 'rest'],
  ['rest', 'rest'],
  ['mcp', 'mcp'],
];

const REPOS = '[coordination.repositories.mac]\ncase_insensitive = true\nroot = "/work/mac"\n';

/** One announce's outcome: granted, or the code it was refused with. */
type Outcome = { granted: true } | { granted: false; code: unknown };

describe('#21 item 3: every spelling of one file meets the same exclusive claim', () => {
  let gw: RunningGateway;
  const sessions = new SessionSet();
  let mcp: CoordSession[];

  beforeAll(async () => {
    gw = await startGateway(coordToml({}, REPOS));
    await coordReady(gw);
    mcp = [await sessions.open(gw.url, 'paths-a'), await sessions.open(gw.url, 'paths-b')];
  });

  afterAll(async () => {
    await sessions.closeAll();
    await stopGateways();
  });

  const announce = async (surface: 'rest' | 'mcp', who: number, repo: string, path: string): Promise<Outcome> => {
    const input = { agent_id: `racer-${who}`, paths: [path], intent: 'Rewrite it', exclusive: true, repo };
    if (surface === 'rest') {
      const answer = await gw.request('POST', '/coord/claim/announce', input);
      return answer.status === 200 ? { granted: true } : { granted: false, code: answer.body.code };
    }
    const result = await (mcp[who] as CoordSession).call('mux_claim_announce', input);
    return result.isError ? { granted: false, code: result.body.code } : { granted: true };
  };

  for (const [k, spelling] of SPELLINGS.entries()) {
    it(`gives exactly one of two racing exclusive claims the file: ${spelling.name}`, async () => {
      for (const [r, [first, second]] of ROUNDS.entries()) {
        const dir = `v${k}r${r}`;
        const outcomes = await Promise.all([
          announce(first, 0, spelling.repo, spelling.a.replace('{d}', dir)),
          announce(second, 1, spelling.repo, spelling.b.replace('{d}', dir)),
        ]);
        expect(
          outcomes.filter((o) => o.granted),
          `round ${r} (${first} vs ${second})`,
        ).toHaveLength(1);
        expect(outcomes.find((o) => !o.granted)).toEqual({ granted: false, code: 'CONFLICT' });
      }
    });
  }

  it('stores and shows the canonical form', async () => {
    const body = await mcp[0]?.ok('mux_claim_announce', { agent_id: 'shower', paths: ['  SRC//Shown/./B.ts '], intent: 'Show it', repo: 'mac' });
    expect(body).toMatchObject({ claim: { paths: ['src/shown/b.ts'] } });
  });

  it('refuses blank, escaping and undeclared absolute paths with one sentence on REST and MCP', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['   ', 'plain', /paths entry ' {3}' is blank/],
      ['src/../../a.ts', 'plain', /leaves the repository/],
      ['/etc/passwd', 'plain', /is absolute and repository 'plain' declares no root/],
      ['~/a.ts', 'plain', /is absolute and repository 'plain' declares no root/],
      ['/work/other/a.ts', 'mac', /is outside the root of repository 'mac' \(\/work\/mac\)/],
    ];
    for (const [path, repo, sentence] of cases) {
      const input = { agent_id: 'bad-paths', paths: [path], intent: 'Nothing', repo };
      const viaRest = await gw.request('POST', '/coord/claim/announce', input);
      const viaMcp = await mcp[0]?.call('mux_claim_announce', input);
      expect(viaRest.status, path).toBe(400);
      expect(viaRest.body).toMatchObject({ code: 'BAD_REQUEST', error: expect.stringMatching(sentence) });
      expect(viaMcp?.body).toMatchObject({ code: 'BAD_REQUEST', error: viaRest.body.error });
    }
  });
});

describe('#21 item 3 on the standalone server: repositories from --opt', () => {
  let coord: RunningCoord;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coord-paths-'));
    coord = await startCoord(join(dir, 'coord.db'), ['--opt', 'repositories={"mac":{"case_insensitive":true}}']);
  });

  afterAll(async () => {
    await stopCoords();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives exactly one of two racing exclusive claims a file written in two cases', async () => {
    for (let round = 0; round < 4; round++) {
      const answers = await Promise.all(
        [`src/s${round}/a.ts`, `Src/S${round}/A.TS`].map((path, i) =>
          coord.post('/claim/announce', { agent_id: `solo-${i}`, paths: [path], intent: 'Rewrite', exclusive: true, repo: 'mac' }),
        ),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    }
  });

  it('refuses a path outside the repository with the sentence of the gateway, on its REST and its MCP', async () => {
    const input = { agent_id: 'solo', paths: ['~/elsewhere.ts'], intent: 'Nothing', repo: 'mac' };
    const viaRest = await coord.post('/claim/announce', input);
    expect(viaRest).toMatchObject({
      status: 400,
      body: { code: 'BAD_REQUEST', error: expect.stringMatching(/^paths entry '~\/elsewhere.ts' is absolute and repository 'mac' declares no root/) },
    });
    const client = new Client({ name: 'paths-solo', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${coord.url}/mcp`)));
    try {
      const viaMcp = coordResult(await client.callTool({ name: 'mux_claim_announce', arguments: input }));
      expect(viaMcp).toMatchObject({ isError: true, body: { code: 'BAD_REQUEST', error: viaRest.body.error } });
    } finally {
      await client.close();
    }
  });
});
