import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';

/*
 * A gateway killed with SIGKILL runs no exit handler: children that ignore
 * stdin EOF and SIGTERM, and grandchildren of a child that exited, outlive
 * it. So each gateway keeps a ledger of its children's process groups in
 * data_dir/children/<gateway pid>.json — each group's id and its leader's
 * start time (/proc, in clock ticks since boot) — and the next gateway on
 * that data_dir kills the groups a dead gateway left behind.
 *
 * A reused pid is never hit: a ledger of another boot is dropped unread; a
 * ledger whose gateway still runs (same pid and start time) is left alone;
 * a group whose id now names a live leader with another start time is not
 * the recorded one. (Linux does not hand out a pid while it still names a
 * process group, so members of a group whose leader is gone are the
 * recorded leader's descendants.) Linux only: without /proc, nothing is
 * recorded or swept.
 */

interface Group {
  pgid: number;
  /** The leader's start time (clock ticks since boot). */
  start: number;
  backend: string;
}

interface LedgerFile {
  boot_id: string;
  gateway: { pid: number; start: number };
  groups: Group[];
}

/** Fields of /proc/<pid>/stat after the command; undefined when the process is gone or a zombie. */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields;
  } catch {
    return undefined;
  }
}

/** A live process's start time in clock ticks since boot (field 22 of stat). */
export function startTime(pid: number | 'self' | undefined): number | undefined {
  if (pid !== 'self' && !Number.isSafeInteger(pid)) return undefined;
  const value = statFields(pid as number | 'self')?.[19];
  return value === undefined ? undefined : Number(value);
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
  } catch {
    return undefined;
  }
}

/** Live processes by process group id, with their start times. */
function processGroups(): Map<number, { pid: number; start: number }[]> {
  const groups = new Map<number, { pid: number; start: number }[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields === undefined) continue;
    const pgid = Number(fields[2]);
    const members = groups.get(pgid) ?? [];
    members.push({ pid: Number(entry), start: Number(fields[19]) });
    groups.set(pgid, members);
  }
  return groups;
}

/** The ledger of this gateway's child process groups (one per process, opened by the gateway at start). */
export class ChildLedger {
  readonly #file: string;
  readonly #head: Omit<LedgerFile, 'groups'>;
  readonly #log: Logger;
  readonly #groups = new Map<number, Group>();
  static #current: ChildLedger | undefined;

  /** The ledger this process keeps, once the gateway opened it (StdioChild records its groups there). */
  static get current(): ChildLedger | undefined {
    return ChildLedger.#current;
  }

  private constructor(file: string, head: Omit<LedgerFile, 'groups'>, logger: Logger) {
    this.#file = file;
    this.#head = head;
    this.#log = logger;
  }

  /** Kills what gateways that died on this data_dir left behind, then starts this gateway's ledger; undefined without /proc. */
  static open(dataDir: string, logger: Logger): ChildLedger | undefined {
    const boot = bootId();
    const start = startTime('self');
    if (boot === undefined || start === undefined) return undefined;
    const dir = join(dataDir, 'children');
    mkdirSync(dir, { recursive: true });
    sweep(dir, boot, logger);
    ChildLedger.#current = new ChildLedger(join(dir, `${process.pid}.json`), { boot_id: boot, gateway: { pid: process.pid, start } }, logger);
    return ChildLedger.#current;
  }

  /** Records a child that leads its own process group. */
  add(pgid: number, backend: string): void {
    const start = startTime(pgid);
    if (start === undefined) return; // gone already: nothing to leave behind
    this.#groups.set(pgid, { pgid, start, backend });
    this.#write();
  }

  /** Forgets a group once it is gone. */
  delete(pgid: number): void {
    if (this.#groups.delete(pgid)) this.#write();
  }

  /** Removes the ledger (every child is gone). */
  close(): void {
    if (ChildLedger.#current === this) ChildLedger.#current = undefined;
    this.#groups.clear();
    rmSync(this.#file, { force: true });
  }

  #write(): void {
    try {
      if (this.#groups.size === 0) {
        rmSync(this.#file, { force: true });
        return;
      }
      const file: LedgerFile = { ...this.#head, groups: [...this.#groups.values()] };
      // Written whole and renamed: a gateway killed mid-write leaves the old ledger, never half of one.
      writeFileSync(`${this.#file}.tmp`, JSON.stringify(file));
      renameSync(`${this.#file}.tmp`, this.#file);
    } catch (err) {
      // The child runs either way; only a cleanup after a crash of the gateway is lost.
      this.#log.warn({ file: this.#file, error: (err as Error).message }, 'could not update the ledger of child processes');
    }
  }
}

function sweep(dir: string, boot: string, logger: Logger): void {
  let live: Map<number, { pid: number; start: number }[]> | undefined;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    // A .tmp is a ledger being written: another gateway's while its pid lives.
    if (!name.endsWith('.json') && startTime(Number.parseInt(name, 10)) !== undefined) continue;
    let ledger: LedgerFile;
    try {
      ledger = JSON.parse(readFileSync(path, 'utf8')) as LedgerFile;
    } catch {
      rmSync(path, { force: true }); // a torn .tmp or a stray file
      continue;
    }
    if (ledger.boot_id === boot && Array.isArray(ledger.groups)) {
      // Another gateway that runs on this data_dir keeps its children.
      if (typeof ledger.gateway?.start === 'number' && startTime(ledger.gateway.pid) === ledger.gateway.start) continue;
      live ??= processGroups();
      for (const group of ledger.groups) killStale(group, live, logger);
    }
    rmSync(path, { force: true });
  }
}

function killStale(group: Group, live: Map<number, { pid: number; start: number }[]>, logger: Logger): void {
  // kill(-1) and kill(-0) would reach every process, or ours: only a real
  // group id, and never this gateway's own group.
  if (
    typeof group !== 'object' ||
    group === null ||
    !Number.isSafeInteger(group.pgid) ||
    group.pgid <= 1 ||
    typeof group.start !== 'number' ||
    String(group.pgid) === statFields('self')?.[2]
  )
    return;
  const all = live.get(group.pgid) ?? [];
  // A leader with another start time: the id was reused; that group is not ours.
  if (all.some((m) => m.pid === group.pgid && m.start !== group.start)) return;
  const members = all.filter((m) => m.start >= group.start);
  if (members.length === 0) return;
  try {
    process.kill(-group.pgid, 'SIGKILL');
  } catch {
    return; // gone meanwhile
  }
  logger.warn(
    { backend: group.backend, pgid: group.pgid, pids: members.map((m) => m.pid) },
    'killed the processes of a backend left running by a gateway that did not stop cleanly',
  );
}
