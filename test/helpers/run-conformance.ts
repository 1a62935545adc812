// Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
// pinned at 0.1.13 because later versions need Node 22) against a server URL
// and parses its summary. Uses the installed package only; never downloads.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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
}

export interface RunOptions {
  /** "all" (default: active plus pending scenarios), "active" or "pending". */
  suite?: 'all' | 'active' | 'pending';
  /** Kill the suite after this long (default 300 s). */
  timeoutMs?: number;
}

const TOTAL_LINE = /^Total: (\d+) passed, (\d+) failed$/m;
const SCENARIO_LINE = /^[✓✗] (\S+): (\d+) passed, (\d+) failed$/gm;
// Results land in `server-<scenario>-<ISO timestamp with : and . as ->/checks.json`.
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
// The suite colours its check lists with ANSI escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC
const ANSI = /\u001b\[[0-9;]*m/g;

/** The suite's CLI script, from the installed package's `bin`. */
async function suiteBin(): Promise<string> {
  const manifestPath = createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json');
  const manifest: unknown = JSON.parse(await readFile(manifestPath, 'utf8'));
  const bin = typeof manifest === 'object' && manifest !== null && 'bin' in manifest ? manifest.bin : undefined;
  const script = typeof bin === 'string' ? bin : typeof bin === 'object' && bin !== null && 'conformance' in bin ? bin.conformance : undefined;
  if (typeof script !== 'string') throw new Error(`No conformance bin in ${manifestPath}; is @modelcontextprotocol/conformance installed?`);
  return join(dirname(manifestPath), script);
}

/** `CheckName: message` for each FAILURE and WARNING in one scenario's checks.json. */
async function problemsIn(file: string): Promise<{ warnings: number; problems: string[] }> {
  const checks: unknown = JSON.parse(await readFile(file, 'utf8'));
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

function execute(bin: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    child.once('close', () => {
      clearTimeout(timer);
      resolve(output.replace(ANSI, ''));
    });
  });
}

/** Runs `conformance server --url URL --suite all` and parses its summary. */
export async function runConformance(url: string, options: RunOptions = {}): Promise<ConformanceRun> {
  const bin = await suiteBin();
  const outputDir = await mkdtemp(join(tmpdir(), 'stonegate-conformance-'));
  const started = performance.now();
  try {
    const output = await execute(bin, ['server', '--url', url, '--suite', options.suite ?? 'all', '--output-dir', outputDir], options.timeoutMs ?? 300_000);
    const durationMs = Math.round(performance.now() - started);
    const total = TOTAL_LINE.exec(output);
    if (total === null) throw new Error(`The conformance suite printed no "Total: X passed, Y failed" line; its output:\n${output}`);
    const details = await collectDetails(outputDir);
    const scenarios = [...output.matchAll(SCENARIO_LINE)].map(([, name = '', passed, failed]) => ({
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
    };
  } finally {
    await rm(outputDir, { recursive: true, force: true });
  }
}
