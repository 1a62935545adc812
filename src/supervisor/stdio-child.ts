import { execa, type ResultPromise } from 'execa';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log.js';

/** How a child ended: exit code, or the signal that ended it. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

export interface StdioChildOptions {
  command: string;
  args: readonly string[];
  cwd: string;
  /** The complete environment of the child (already scrubbed). */
  env: Record<string, string>;
  logger: Logger;
  /** How many of the last stderr lines to keep for error messages. */
  stderrLines: number;
}

const MAX_STDERR_LINE = 2_000;
const LIVE_GROUPS = new Set<number>();

// A gateway that exits for any reason takes its children's process groups
// with it; `exit` handlers must be synchronous, and kill() is.
process.once('exit', () => {
  for (const pgid of LIVE_GROUPS) killGroup(pgid, 'SIGKILL');
});

function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the whole group is gone already
  }
}

function groupAlive(pgid: number): boolean {
  return killGroup(pgid, 0);
}

/**
 * One stdio child in its own process group. It knows nothing of MCP: it
 * spawns, forwards stderr into the log line by line, reports its exit and
 * stops the whole group (grandchildren included) when asked.
 */
export class StdioChild {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Settles once, when the leader process has exited. */
  readonly exited: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;
  readonly #stderr: string[] = [];
  readonly #stderrLimit: number;
  readonly #process: ResultPromise;

  private constructor(subprocess: ResultPromise, options: StdioChildOptions) {
    this.#process = subprocess;
    this.pid = subprocess.pid ?? -1;
    this.stdin = subprocess.stdin as Writable;
    this.stdout = subprocess.stdout as Readable;
    this.#stderrLimit = options.stderrLines;
    LIVE_GROUPS.add(this.pid);
    this.exited = new Promise<ExitInfo>((resolve) => {
      subprocess.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    // Writes to a dead child's stdin raise EPIPE on the stream; the exit
    // event reports the death, so the stream error itself is only noise.
    this.stdin.on('error', () => {});
    const log = options.logger;
    const lines = createInterface({ input: subprocess.stderr as Readable, crlfDelay: Infinity });
    lines.on('line', (line) => {
      const text = line.length > MAX_STDERR_LINE ? `${line.slice(0, MAX_STDERR_LINE)}… (${line.length} chars)` : line;
      this.#stderr.push(text);
      if (this.#stderr.length > this.#stderrLimit) this.#stderr.shift();
      log.info({ stream: 'stderr' }, text);
    });
  }

  /** Spawns the child and resolves once it runs; rejects (ENOENT, EACCES) when it cannot start. */
  static async spawn(options: StdioChildOptions): Promise<StdioChild> {
    const subprocess = execa(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env,
      extendEnv: false,
      detached: true, // own process group, so stop() can reach grandchildren
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cleanup: false, // we stop the group ourselves, with a grace period
      stripFinalNewline: false,
    });
    // execa's promise settles with the result at exit; we track exit via
    // events, so its outcome is deliberately ignored here.
    subprocess.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      subprocess.once('spawn', () => resolve());
      subprocess.once('error', reject);
    });
    return new StdioChild(subprocess, options);
  }

  /** The last stderr lines, oldest first. */
  get stderrTail(): readonly string[] {
    return this.#stderr;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /**
   * Stops the child and its group: close stdin (a well-behaved MCP server
   * exits on EOF), SIGTERM the group after `graceMs`, SIGKILL after as long
   * again. Grandchildren left behind by a leader that exited are killed too.
   * Idempotent.
   */
  async stop(graceMs: number): Promise<ExitInfo> {
    this.stdin.end();
    if (this.#exit === undefined && !(await settlesWithin(this.exited, graceMs))) {
      killGroup(this.pid, 'SIGTERM');
      if (!(await settlesWithin(this.exited, graceMs))) killGroup(this.pid, 'SIGKILL');
    }
    const info = await this.exited;
    this.#reapGroup();
    return info;
  }

  /** Kills the group at once (a crashed or misbehaving child). */
  kill(): void {
    killGroup(this.pid, 'SIGKILL');
    void this.exited.then(() => this.#reapGroup());
  }

  #reapGroup(): void {
    if (groupAlive(this.pid)) killGroup(this.pid, 'SIGKILL');
    LIVE_GROUPS.delete(this.pid);
    this.#process.stdout?.destroy();
    this.#process.stderr?.destroy();
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
