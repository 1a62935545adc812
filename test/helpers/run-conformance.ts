// Runs the official MCP conformance suite against a server URL and parses its
// summary: @modelcontextprotocol/conformance 0.1.13 (the 2025-11-25 suite), or
// 0.2.0-alpha.12, installed as `conformance-2026`, which checks the
// 2026-07-28 requirements too. 0.2.x imports fs.globSync, which Node 20 lacks:
// it runs under the resolve hook of tools/node20-globsync (a no-op on Node 22).
// Uses the installed packages only; never downloads.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './harness.js';

/** One scenario's line of the summary, plus the failing and warning checks behind it. */
export interface ScenarioOutcome {
  name: string;
  passed: number;
  failed: number;
  warnings: number;
  /** `CheckName: message` for every FAILURE and WARNING check. */
  problems: string[];
}

/** What one run of the suite reported. */
export interface ConformanceRun {
  /** From the suite's closing `Total: X passed, Y failed` line (warnings count in neither). */
  passed: number;
  failed: number;
  warnings: number;
  scenarios: ScenarioOutcome[];
  /** Names of the scenarios with at least one failed check. */
  failedScenarios: string[];
  /** The suite's stdout and stderr as they arrived, colour codes removed. */
  output: string;
  durationMs: number;
  /** The suite's exit code (0.2.x with expectedFailures: 0 when the failures are exactly the expected ones). */
  exitCode: number | null;
}

/** The Node 20 resolve hook that gives the 0.2.x suite its fs.globSync. */
const GLOBSYNC_HOOK = join(ROOT, 'tools', 'node20-globsync', 'register.mjs');

export interface RunOptions {
  /** "all" (default: active plus pending scenarios), "active" or "pending"; 0.1.13 only. */
  suite?: 'all' | 'active' | 'pending';
  /** Run the 0.2.x suite (package `conformance-2026`) for these requirements instead of 0.1.13. */
  requirements?: '2025-11-25' | '2026-07-28';
  /** 0.2.x: a YAML file of expected failures; the suite's exit code is then 0 only if exactly those fail. */
  expectedFailures?: string;
  /** 0.2.x: run this one scenario (`--scenario`, with `--spec-version` of the requirements and `--force`) instead of the requirements' list. */
  scenario?: string;
  /** Kill the suite after this long (default 300 s). */
  timeoutMs?: number;
}

const TOTAL_LINE = /^Total: (\d+) passed, (\d+) failed$/m;
const SINGLE_LINE = /^Passed: (\d+)\/\d+, (\d+) failed/m;
const SCENARIO_LINE = /^[✓✗] (\S+): (\d+) passed, (\d+) failed$/gm;
// Results land in `server-<scenario>-<ISO timestamp with : and . as ->/checks.json`.
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
// The suite colours its check lists with ANSI escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC
const ANSI = /\u001b\[[0-9;]*m/g;

/** The suite's CLI script, from the installed package's `bin`. */
async function suiteBin(pkg: string): Promise<string> {
  const manifestPath = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
  const manifest: unknown = JSON.parse(await readFile(manifestPath, 'utf8'));
  const bin = typeof manifest === 'object' && manifest !== null && 'bin' in manifest ? manifest.bin : undefined;
  const script = typeof bin === 'string' ? bin : typeof bin === 'object' && bin !== null && 'conformance' in bin ? bin.conformance : undefined;
  if (typeof script !== 'string') throw new Error(`No conformance bin in ${manifestPath}; is @modelcontextprotocol/conformance installed?`);
  return join(dirname(manifestPath), script);
}

/** `CheckName: message` for each FAILURE and WARNING in one scenario's checks.json. */
async function problemsIn(file: string): Promise<{ warnings: number; problems: string[] }> {
  // A scenario that stopped early writes no checks.json (0.2.x); its summary line still counts it.
  const text = await readFile(file, 'utf8').catch(() => '[]');
  const checks: unknown = JSON.parse(text);
  const problems: string[] = [];
  let warnings = 0;
  for (const check of Array.isArray(checks) ? (checks as unknown[]) : []) {
    if (typeof check !== 'object' || check === null) continue;
    const { status, name, errorMessage, description } = check as Record<string, unknown>;
    if (status !== 'FAILURE' && status !== 'WARNING') continue;
    if (status === 'WARNING') warnings += 1;
    problems.push(`${String(status)} ${String(name)}: ${String(errorMessage ?? description)}`);
  }
  return { warnings, problems };
}

async function collectDetails(outputDir: string): Promise<Map<string, { warnings: number; problems: string[] }>> {
  const details = new Map<string, { warnings: number; problems: string[] }>();
  for (const entry of await readdir(outputDir)) {
    const scenario = RESULT_DIR.exec(entry)?.[1];
    if (scenario !== undefined) details.set(scenario, await problemsIn(join(outputDir, entry, 'checks.json')));
  }
  return details;
}

function execute(node: string[], args: string[], timeoutMs: number): Promise<{ output: string; exitCode: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...node, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Conformance suite timed out after ${timeoutMs} ms; output so far:\n${output.replace(ANSI, '')}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    // Exit code 1 just means some check failed; the summary says which.
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ output: output.replace(ANSI, ''), exitCode });
    });
  });
}

/** Runs `conformance server --url URL --suite all` (0.1.13) or `--requirements R` (0.2.x) and parses its summary. */
export async function runConformance(url: string, options: RunOptions = {}): Promise<ConformanceRun> {
  const modern = options.requirements !== undefined;
  const bin = await suiteBin(modern ? 'conformance-2026' : '@modelcontextprotocol/conformance');
  const outputDir = await mkdtemp(join(tmpdir(), 'stonegate-conformance-'));
  const started = performance.now();
  const node = modern ? ['--import', GLOBSYNC_HOOK, bin] : [bin];
  const only =
    options.scenario === undefined
      ? ['--requirements', options.requirements ?? '']
      : ['--scenario', options.scenario, '--spec-version', options.requirements ?? '', '--force'];
  const args = modern
    ? ['server', '--url', url, ...only, '--output-dir', outputDir]
    : ['server', '--url', url, '--suite', options.suite ?? 'all', '--output-dir', outputDir];
  if (options.expectedFailures !== undefined) args.push('--expected-failures', options.expectedFailures);
  try {
    const { output, exitCode } = await execute(node, args, options.timeoutMs ?? 300_000);
    const durationMs = Math.round(performance.now() - started);
    // One scenario prints `Passed: P/N, F failed, …` instead of a summary of scenarios.
    const single = options.scenario === undefined ? null : SINGLE_LINE.exec(output);
    const total = single === null ? TOTAL_LINE.exec(output) : single;
    if (total === null) throw new Error(`The conformance suite printed no "Total: X passed, Y failed" line; its output:\n${output}`);
    const details = await collectDetails(outputDir);
    const lines = single === null ? [...output.matchAll(SCENARIO_LINE)] : [['', options.scenario, single[1], single[2]]];
    const scenarios = lines.map(([, name = '', passed, failed]) => ({
      name,
      passed: Number(passed),
      failed: Number(failed),
      ...(details.get(name) ?? { warnings: 0, problems: [] }),
    }));
    return {
      passed: Number(total[1]),
      failed: Number(total[2]),
      warnings: scenarios.reduce((sum, scenario) => sum + scenario.warnings, 0),
      scenarios,
      failedScenarios: scenarios.filter((scenario) => scenario.failed > 0).map((scenario) => scenario.name),
      output,
      durationMs,
      exitCode,
    };
  } finally {
    await rm(outputDir, { recursive: true, force: true });
  }
}
