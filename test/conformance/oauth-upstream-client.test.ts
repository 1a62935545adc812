// [oauth-out] The gateway's upstream OAuth client under the official suite's
// client auth scenario for client credentials (0.2.0-alpha.12, `conformance
// client`): test/fixtures/oauth-upstream-client.ts is the client command; it
// starts a real gateway whose backend is the scenario's protected MCP server,
// with `oauth = { grant = "client_credentials", … }` from the scenario's
// context, and calls its tool through the gateway. Run for the 2026-07-28
// spec version (`--force`: the scenario is an extension's); against the
// scenario's 2025-era server the auth checks pass as well, but that server
// answers the gateway's GET stream with 404, which the gateway takes for a
// lost session (a matter of its 2025 HTTP client, not of OAuth).
//
// [oauth-out] The login scenarios (grant = "authorization_code"): the client
// command is the same fixture with `--login`: `stonegate auth login conf
// --no-browser` first, the fixture following the printed URL as a browser
// (the scenario's authorization server approves at once and redirects to the
// login's loopback listener), then the gateway calls through. When the
// gateway asks for a new login (needs_auth: a scope only a login grants, a
// backend moved to another authorization server) the fixture logs in once
// more, as the person would.
//
// [speed] The login scenarios run in two suite processes (`conformance client
// --spec-version 2026-07-28` with `--suite auth`, 14 of them, and with
// `--suite draft`, the other 11 and 6 scenarios of other features, which the
// fixture leaves at once), not one each: a suite process costs ~1.6 s of CPU
// to start, and 25 of them were a third of the file's CPU. A suite starts its
// scenarios all at once; the fixtures wait for a turn at the test's gate, five
// at a time (as vitest's maxConcurrency ran them before), so no scenario
// shares two cores with 24 others. Each scenario is still asserted on its own, from what the suite
// saved for it (`-o`): its checks (none failed, none a warning) and the
// client's exit code (the last line of its stdout), which must be 0 unless
// the scenario allows the client to fail (as the suite's single-scenario
// verdict has it).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/harness.js';

const SUITE = join(ROOT, 'node_modules', 'conformance-2026', 'dist', 'index.js');
const HOOK = join(ROOT, 'tools', 'node20-globsync', 'register.mjs');
const CLIENT = join(ROOT, 'dist', 'test', 'fixtures', 'oauth-upstream-client.js');

function runSuite(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, ['--import', HOOK, SUITE, 'client', '--spec-version', '2026-07-28', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, output: output.replace(/\u001b\[[0-9;]*m/g, '') })));
}

/** One client credentials scenario (an extension's: `--force`); the suite's own verdict includes the client's exit code. */
function runScenario(scenario: string): Promise<{ code: number | null; output: string }> {
  // The suite gives the client command 30 s by default; it starts a gateway.
  return runSuite(['--scenario', scenario, '--force', '--command', `node ${CLIENT}`, '--timeout', '120000']);
}

describe('conformance: the upstream OAuth client (client credentials)', () => {
  it('auth/client-credentials-basic passes: metadata discovered, client_secret_basic, the tool called with the token', async () => {
    const { code, output } = await runScenario('auth/client-credentials-basic');
    expect(output, output).toMatch(/client-credentials-basic-auth\s*\]\s*SUCCESS/);
    expect(output, output).toMatch(/Passed: (\d+)\/\1, 0 failed/);
    expect(output, output).toContain('OVERALL: PASSED');
    expect(code).toBe(0);
  }, 120_000);

  it('auth/client-credentials-jwt passes: private_key_jwt (RFC 7523 §2.2) signed with the configured key', async () => {
    const { code, output } = await runScenario('auth/client-credentials-jwt');
    expect(output, output).toMatch(/Passed: (\d+)\/\1, 0 failed/);
    expect(output, output).toContain('OVERALL: PASSED');
    expect(code).toBe(0);
  }, 120_000);
});

/** [oauth-out] Every client auth scenario of the suite that applies to the gateway's login (2026-07-28 spec version). */
const LOGIN_SCENARIOS = [
  'metadata-default',
  'metadata-var1',
  'metadata-var2',
  'metadata-var3',
  'basic-cimd',
  'scope-from-www-authenticate',
  'scope-from-scopes-supported',
  'scope-omitted-when-undefined',
  'scope-step-up',
  'scope-retry-limit',
  'token-endpoint-auth-basic',
  'token-endpoint-auth-post',
  'token-endpoint-auth-none',
  'pre-registration',
  'resource-mismatch',
  'offline-access-scope',
  'offline-access-not-supported',
  'authorization-server-migration',
  'iss-supported',
  'iss-not-advertised',
  'iss-supported-missing',
  'iss-wrong-issuer',
  'iss-unexpected',
  'iss-normalized',
  'metadata-issuer-mismatch',
];

/** The scenarios whose client may exit with an error (the suite's allowClientError): the client must refuse there. */
const CLIENT_MAY_FAIL = new Set([
  'scope-retry-limit',
  'resource-mismatch',
  'iss-supported-missing',
  'iss-wrong-issuer',
  'iss-unexpected',
  'iss-normalized',
  'metadata-issuer-mismatch',
]);

/** At most `slots` clients at work: each connects, waits for a byte, and frees its slot when its connection closes (it exits). */
async function startGate(slots: number): Promise<{ port: number; close: () => void }> {
  const waiting: Socket[] = [];
  let busy = 0;
  const next = (): void => {
    while (busy < slots && waiting.length > 0) {
      const socket = waiting.shift();
      if (socket === undefined || socket.destroyed) continue;
      busy += 1;
      socket.once('close', () => {
        busy -= 1;
        next();
      });
      socket.write('go');
    }
  };
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    waiting.push(socket);
    next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the gate has no port');
  return { port: address.port, close: () => server.close() };
}

interface SavedScenario {
  checks: { id: string; status: string; errorMessage?: string }[];
  stdout: string;
  stderr: string;
}

/** Both suite runs' output. */
let suite: { output: string };
let saved: string;

/** What the suite saved for `auth/<scenario>`: `<dir>/auth/<scenario>-<ISO time>/`. */
function savedScenario(scenario: string): SavedScenario {
  const dirs = readdirSync(join(saved, 'auth')).filter((name) => new RegExp(`^${scenario}-\\d{4}-\\d\\d-\\d\\dT`).test(name));
  expect(dirs, suite.output).toHaveLength(1);
  const dir = join(saved, 'auth', dirs[0] ?? '');
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  return { checks: JSON.parse(read('checks.json')) as SavedScenario['checks'], stdout: read('stdout.txt'), stderr: read('stderr.txt') };
}

describe('conformance: the upstream OAuth client (authorization_code through stonegate auth login)', () => {
  beforeAll(async () => {
    saved = mkdtempSync(join(tmpdir(), 'stonegate-oauth-suite-'));
    const gate = await startGate(5);
    try {
      // The client's timeout counts its wait for a turn: five turns of five logins.
      const run = (name: string): Promise<{ output: string }> =>
        runSuite(['--suite', name, '--command', `node ${CLIENT} --login`, '--timeout', '400000', '-o', saved], { STONEGATE_CONF_GATE: String(gate.port) });
      const runs = await Promise.all([run('auth'), run('draft')]);
      suite = { output: runs.map((r) => r.output).join('\n') };
    } finally {
      gate.close();
    }
  }, 420_000);

  afterAll(() => rmSync(saved, { recursive: true, force: true }));

  it('the suite ran exactly these scenarios', () => {
    const ran = [...suite.output.matchAll(/^[✓✗] auth\/(\S+): /gm)].map((m) => m[1]);
    expect(ran.sort(), suite.output).toEqual([...LOGIN_SCENARIOS].sort());
  });

  it.each(LOGIN_SCENARIOS)('auth/%s passes', (scenario) => {
    const { checks, stdout, stderr } = savedScenario(scenario);
    const seen = `${JSON.stringify(checks, null, 1)}\nstdout: ${stdout}\nstderr: ${stderr}`;
    expect(checks.filter((c) => c.status === 'SUCCESS').length, seen).toBeGreaterThan(0);
    expect(
      checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING'),
      seen,
    ).toEqual([]);
    // Exited (not killed at the suite's timeout), and with 0 unless the scenario allows the client to fail.
    const exit = /(?:^|\n)exit (-?\d+)\n$/.exec(stdout)?.[1];
    expect(exit, seen).toBeDefined();
    if (!CLIENT_MAY_FAIL.has(scenario)) expect(exit, seen).toBe('0');
  });
});
