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
// more, as the person would. The login scenarios run concurrently (vitest's
// maxConcurrency, 5): each has its own suite process, data dir and ports, and
// they spend most of their time waiting on the processes they start.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/harness.js';

const SUITE = join(ROOT, 'node_modules', 'conformance-2026', 'dist', 'index.js');
const HOOK = join(ROOT, 'tools', 'node20-globsync', 'register.mjs');
const CLIENT = join(ROOT, 'dist', 'test', 'fixtures', 'oauth-upstream-client.js');

function runScenario(scenario: string, login = false): Promise<{ code: number | null; output: string }> {
  const command = `node ${CLIENT}${login ? ' --login' : ''}`;
  const args = ['--import', HOOK, SUITE, 'client', '--scenario', scenario, '--spec-version', '2026-07-28', ...(login ? [] : ['--force']), '--command', command];
  // The suite gives the client command 30 s by default; a login starts two processes (the CLI, then the gateway).
  args.push('--timeout', '120000');
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, output: output.replace(/\u001b\[[0-9;]*m/g, '') })));
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

describe('conformance: the upstream OAuth client (authorization_code through stonegate auth login)', () => {
  it.concurrent.each(LOGIN_SCENARIOS)(
    'auth/%s passes',
    async (scenario) => {
      const { code, output } = await runScenario(`auth/${scenario}`, true);
      expect(output, output).toMatch(/Passed: (\d+)\/\1, 0 failed/);
      expect(output, output).toContain('OVERALL: PASSED');
      expect(code, output).toBe(0);
    },
    240_000,
  );
});
