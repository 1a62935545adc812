import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * Every process a bench starts carries this variable (children inherit it,
 * and stonegate backends get it through their `env`), so that a sweep at
 * the end finds anything that outlived its parent.
 */
export const MARKER_VAR = 'STONEGATE_BENCH_RUN';
export const MARKER = `${process.pid}-${Date.now()}`;

/** A process started by a bench, with its output kept for error messages. */
export interface BenchProcess {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** Last lines of stdout and stderr. */
  tail: string[];
  /** Calls `fn` for every stdout line (past lines are not replayed). */
  onLine(fn: (line: string) => void): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; then SIGKILL for any descendant still alive. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_LINES = 40;

/** /proc/<pid>/stat → parent pid, or undefined when it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}

function livePids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** Every live descendant of `root` (children, grandchildren, …). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of livePids()) {
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

function hasMarker(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(`${MARKER_VAR}=${MARKER}`);
  } catch {
    return false;
  }
}

/** Live (not zombie) processes of this run, found by the marker. */
export function markedProcesses(): number[] {
  return livePids().filter((pid) => pid !== process.pid && parentOf(pid) !== undefined && hasMarker(pid));
}

function alive(pid: number): boolean {
  return parentOf(pid) !== undefined;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** The processes of one bench; stopAll() ends every one of them and their descendants. */
export class ProcessSet {
  readonly #running = new Set<BenchProcess>();
  started = 0;

  /** Spawns `command args` with the marker in its environment; stdout/stderr are read into `tail`. */
  spawn(name: string, command: string, args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): BenchProcess {
    const proc = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env, [MARKER_VAR]: MARKER },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (proc.pid === undefined) throw new Error(`could not start ${name}: ${command} ${args.join(' ')}`);
    this.started += 1;
    const tail: string[] = [];
    const listeners: ((line: string) => void)[] = [];
    const keep = (line: string): void => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    };
    createInterface({ input: proc.stdout }).on('line', (line) => {
      keep(line);
      for (const fn of listeners) fn(line);
    });
    createInterface({ input: proc.stderr }).on('line', keep);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const pid = proc.pid;
    let stopping: Promise<void> | undefined;
    const handle: BenchProcess = {
      name,
      pid,
      proc,
      tail,
      onLine: (fn) => void listeners.push(fn),
      exited,
      stop: (graceMs = 8_000) => {
        stopping ??= (async () => {
          // Snapshot first: once the parent is gone its children are reparented and harder to find.
          const family = descendants(pid);
          if (proc.exitCode === null && proc.signalCode === null) {
            kill(pid, 'SIGTERM');
            const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref());
            if ((await Promise.race([exited, timer])) === 'late') {
              kill(pid, 'SIGKILL');
              await exited;
            }
          }
          // Children get a moment to notice their parent is gone, then go.
          const deadline = Date.now() + 2_000;
          while (family.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          for (const child of family) if (alive(child) && hasMarker(child)) kill(child, 'SIGKILL');
          for (const child of family) if (alive(child)) kill(child, 'SIGKILL');
          this.#running.delete(handle);
        })();
        return stopping;
      },
    };
    this.#running.add(handle);
    return handle;
  }

  /** Stops every process still running, in parallel. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running].map((p) => p.stop()));
  }

  /** Last resort on exit: SIGKILL everything of this set and its descendants, synchronously. */
  killAllNow(): void {
    for (const p of this.#running) {
      const family = descendants(p.pid);
      kill(p.pid, 'SIGKILL');
      for (const child of family) kill(child, 'SIGKILL');
    }
  }
}

/** Kills whatever carries this run's marker; returns how many there were. */
export async function sweepLeftovers(): Promise<number> {
  let left = markedProcesses();
  const count = left.length;
  for (const pid of left) kill(pid, 'SIGTERM');
  const deadline = Date.now() + 2_000;
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = left.filter(alive);
  }
  for (const pid of left) kill(pid, 'SIGKILL');
  return count;
}

/** VmRSS and VmHWM of one process, in MB. */
export function memoryOf(pid: number): { rssMb: number; hwmMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/**
 * CPU time a process has used so far, in ms, to the nanosecond: the sum of its live threads' run time from
 * /proc/PID/task/TID/schedstat. /proc/PID/stat counts in 10 ms ticks, which over a 2,000-call chunk is a 5 µs
 * step per call, as large as the effects the A/B benches look for. A thread that exits between two readings
 * takes its time with it; a node process keeps its threads (libuv pool, V8 platform workers) for its life.
 * Falls back to the ticks where schedstat is not readable.
 */
export function cpuTimeMs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
      } catch {
        // the thread has exited
      }
    }
    if (ns > 0) return ns / 1e6;
  } catch {
    // no task list: fall through to the ticks (and their error if the process is gone)
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
