// Baseline: the official MCP conformance suite against the conformance test
// server served directly over Streamable HTTP (no gateway). What this scores
// is what the gateway's /mcp/{server} endpoint should match.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConformance } from '../helpers/run-conformance.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVE_HTTP = join(ROOT, 'dist', 'test', 'fixtures', 'serve-http.js');

/**
 * Scenarios that fail against any server built on @modelcontextprotocol/server
 * 2.4 with conformance 0.1.13, each with the reason. Keep it short: an
 * entry belongs here only if no server code could make it pass.
 */
const EXPECTED_FAILURES: Readonly<Record<string, string>> = {};

let child: ChildProcess | undefined;
let port = 0;

/** Starts serve-http on a free port and resolves with the port it prints. */
function startServer(): Promise<number> {
  const proc = spawn(process.execPath, [SERVE_HTTP], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child = proc;
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code, signal) => reject(new Error(`serve-http exited before listening (code ${code}, signal ${signal})`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
  });
}

beforeAll(async () => {
  port = await startServer();
});

afterAll(async () => {
  const proc = child;
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  await exited;
});

describe('conformance suite, direct connection', () => {
  it('passes every check except the expected failures', { timeout: 300_000 }, async () => {
    const run = await runConformance(`http://127.0.0.1:${port}/mcp`);
    const totalLine = /^Total: .*$/m.exec(run.output)?.[0] ?? '(no Total line)';
    process.stdout.write(`conformance (direct): ${totalLine} — ${run.warnings} warnings, ${run.scenarios.length} scenarios in ${run.durationMs} ms\n`);
    for (const scenario of run.scenarios.filter((s) => s.problems.length > 0)) {
      process.stdout.write(`  ${scenario.name}:\n${scenario.problems.map((p) => `    ${p}\n`).join('')}`);
    }

    expect(run.scenarios.length).toBe(32);
    expect(run.failedScenarios.sort()).toEqual(Object.keys(EXPECTED_FAILURES).sort());
    if (Object.keys(EXPECTED_FAILURES).length === 0) expect(run.failed).toBe(0);
    expect(run.passed).toBeGreaterThan(0);
  });
});
