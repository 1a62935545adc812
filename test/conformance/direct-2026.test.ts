// Baseline for [mcp-bridge]: the 2026-capable conformance suite (0.2.0-alpha.12,
// on Node 20 through tools/node20-globsync) with `--requirements 2026-07-28`
// against the modern fixture test/fixtures/conformance-modern-server.ts,
// served directly by the SDK's createMcpHandler (no gateway). Every required
// scenario passes, and of the unscored ones all but the Tasks extension; what
// the gateway's /mcp/{server} on this backend should match. The fixture serves
// no tasks, so it runs here without the tools of the tasks-* scenarios
// (`--no-task-tools`): as plain calls they only made those scenarios wait,
// about 50 s of sleeps, before failing as they fail without them.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/harness.js';
import { runConformance } from '../helpers/run-conformance.js';

const FIXTURE = join(ROOT, 'dist', 'test', 'fixtures', 'conformance-modern-server.js');
/** The server scenarios of the suite's frozen requirements/2026-07-28.yaml. */
const REQUIRED_SCENARIOS = 37;

let child: ChildProcess | undefined;
let port = 0;

/** Starts the fixture on a free port and resolves with the port it prints. */
function startFixture(): Promise<number> {
  const proc = spawn(process.execPath, [FIXTURE, '--http', '0', '--no-task-tools'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  child = proc;
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code, signal) => reject(new Error(`fixture exited before listening (code ${code}, signal ${signal})`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
  });
}

beforeAll(async () => {
  port = await startFixture();
});

afterAll(async () => {
  const proc = child;
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  await exited;
});

/** The scenario names the suite lists under "Not scored for 2026-07-28" (extensions, pending). */
function notScored(output: string): Set<string> {
  const section = output.split(/^Not scored for 2026-07-28:.*$/m)[1] ?? '';
  return new Set([...section.matchAll(/^\s*[✓✗] (\S+) \(/gm)].map((m) => m[1] ?? ''));
}

describe('conformance suite 0.2, 2026-07-28 requirements, modern fixture served directly', () => {
  it('passes every required check with no warning', { timeout: 300_000 }, async () => {
    const run = await runConformance(`http://127.0.0.1:${port}/mcp`, { requirements: '2026-07-28' });
    const unscored = notScored(run.output);
    const required = run.scenarios.filter((s) => !unscored.has(s.name));
    process.stdout.write(`conformance 0.2 direct 2026-07-28: ${required.length} required scenarios, exit ${run.exitCode}, ${run.durationMs} ms\n`);
    for (const scenario of required.filter((s) => s.problems.length > 0)) {
      process.stdout.write(`  ${scenario.name}:\n${scenario.problems.map((p) => `    ${p}\n`).join('')}`);
    }

    expect(run.exitCode, run.output.slice(-3000)).toBe(0);
    expect(required.map((s) => s.name)).toContain('input-required-result-tampered-state');
    expect(required.length).toBe(REQUIRED_SCENARIOS);
    expect(required.filter((s) => s.failed > 0 || s.warnings > 0 || s.problems.length > 0).map((s) => s.name)).toEqual([]);
    expect(required.every((s) => s.passed > 0)).toBe(true);
    // Of the scenarios run but not scored, only the Tasks extension ([mcp-ext]) fails: the pending
    // json-schema-2020-12 and http-custom-header-server-validation pass too.
    expect(run.failedScenarios.filter((name) => !(unscored.has(name) && name.startsWith('tasks-')))).toEqual([]);
    expect(run.scenarios.find((s) => s.name === 'http-custom-header-server-validation')?.failed).toBe(0);
  });
});
