import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { scrub } from '../config/redact.js';
import type { Logger } from '../log.js';
import { ChildLedger } from './child-ledger.js';
import { withParentDeathSignal } from './parent-death.js';

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
  /** Values (the entry's env and header values) never to log: replaced in stderr lines. */
  secrets?: readonly string[];
  /** The backend's name, for the ledger of child process groups (see child-ledger.ts). */
  backend?: string;
}

/** Longest stderr line kept or logged, in bytes; the rest of a longer line is counted, not stored. */
export const MAX_STDERR_LINE = 2_000;
/** stderr lines logged per second per child; more are counted and summarized. */
export const STDERR_LOG_PER_SECOND = 50;
const NEWLINE = 0x0a;
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
  readonly #process: ChildProcess;

  private constructor(subprocess: ChildProcess, options: StdioChildOptions) {
    this.#process = subprocess;
    this.pid = subprocess.pid ?? -1;
    this.stdin = subprocess.stdin as Writable;
    this.stdout = subprocess.stdout as Readable;
    this.#stderrLimit = options.stderrLines;
    LIVE_GROUPS.add(this.pid);
    ChildLedger.current?.add(this.pid, options.backend ?? options.command);
    this.exited = new Promise<ExitInfo>((resolve) => {
      subprocess.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    // After the spawn, an error event means a signal could not be sent; the exit event tells how the child ended.
    subprocess.on('error', (err) => options.logger.warn({ error: err.message }, 'child process error'));
    // Writes to a dead child's stdin raise EPIPE on the stream; the exit
    // event reports the death, so the stream error itself is only noise.
    this.stdin.on('error', () => {});
    const lines = new StderrLines(
      options.logger,
      (text) => {
        this.#stderr.push(text);
        if (this.#stderr.length > this.#stderrLimit) this.#stderr.shift();
      },
      options.secrets,
    );
    const stderr = subprocess.stderr as Readable;
    stderr.on('data', (chunk: Buffer) => lines.write(chunk));
    stderr.once('close', () => lines.end());
    stderr.on('error', () => {}); // a broken pipe ends the stream; the exit says why
  }

  /** Spawns the child and resolves once it runs; rejects (ENOENT, EACCES) when it cannot start. */
  static async spawn(options: StdioChildOptions): Promise<StdioChild> {
    // A missing command throws here as spawn would (ENOENT, EACCES).
    const run = withParentDeathSignal(options.command, options.args, options.cwd, options.env);
    const subprocess = spawn(run.command, run.args, {
      cwd: options.cwd,
      env: options.env,
      detached: true, // own process group, so stop() can reach grandchildren
      stdio: ['pipe', 'pipe', 'pipe'],
    });
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

  /**
   * After the leader exited on its own: kills what is left of its group
   * (grandchildren), which also lets stdout reach its end — they hold it
   * open otherwise. The streams drain and close by themselves.
   */
  reap(): void {
    if (groupAlive(this.pid)) killGroup(this.pid, 'SIGKILL');
    LIVE_GROUPS.delete(this.pid);
    ChildLedger.current?.delete(this.pid);
  }

  #reapGroup(): void {
    this.reap();
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

/**
 * Splits a child's stderr into lines while it streams, with bounded memory:
 * a line keeps at most MAX_STDERR_LINE bytes however long it runs (a flood
 * without newlines costs nothing), and at most STDERR_LOG_PER_SECOND lines a
 * second reach the log; the rest are counted and reported in one summary
 * line. Every line still reaches `keep` (the stderr tail).
 */
export class StderrLines {
  readonly #log: Logger;
  readonly #keep: (line: string) => void;
  #parts: Buffer[] = [];
  #stored = 0;
  #length = 0;
  #windowStart = 0;
  #logged = 0;
  #skipped = 0;
  #summary: NodeJS.Timeout | undefined;

  readonly #secrets: readonly string[];

  constructor(log: Logger, keep: (line: string) => void, secrets: readonly string[] = []) {
    this.#log = log;
    this.#keep = keep;
    this.#secrets = secrets;
  }

  write(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, from);
      this.#append(chunk.subarray(from, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      this.#emit();
      from = newline + 1;
    }
  }

  /** Flushes a last line without newline and the pending summary. */
  end(): void {
    if (this.#length > 0) this.#emit();
    this.#flushSummary();
  }

  #append(piece: Buffer): void {
    this.#length += piece.length;
    const room = MAX_STDERR_LINE - this.#stored;
    if (room <= 0 || piece.length === 0) return;
    // A copy: the slice must not pin the whole chunk in memory.
    const kept = Buffer.from(piece.subarray(0, room));
    this.#parts.push(kept);
    this.#stored += kept.length;
  }

  #emit(): void {
    let text = Buffer.concat(this.#parts, this.#stored).toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    // A child that prints its own token must not put it in the log.
    text = scrub(text, this.#secrets);
    if (this.#length > this.#stored) text = `${text}… (${this.#length} bytes)`;
    this.#parts = [];
    this.#stored = 0;
    this.#length = 0;
    this.#keep(text);
    const now = Date.now();
    if (now - this.#windowStart >= 1_000) {
      this.#flushSummary();
      this.#windowStart = now;
      this.#logged = 0;
    }
    if (this.#logged < STDERR_LOG_PER_SECOND) {
      this.#logged += 1;
      this.#log.info({ stream: 'stderr' }, text);
      return;
    }
    this.#skipped += 1;
    if (this.#summary === undefined) {
      this.#summary = setTimeout(() => this.#flushSummary(), Math.max(1, this.#windowStart + 1_000 - now));
      this.#summary.unref();
    }
  }

  #flushSummary(): void {
    clearTimeout(this.#summary);
    this.#summary = undefined;
    if (this.#skipped === 0) return;
    this.#log.warn({ stream: 'stderr', skipped_lines: this.#skipped }, `skipped ${this.#skipped} stderr lines (more than ${STDERR_LOG_PER_SECOND} a second)`);
    this.#skipped = 0;
  }
}
