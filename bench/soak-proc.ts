/*
 * The soak's view of the gateway's footprint, read from /proc: its live
 * children, its file descriptors (without the soak's own client sockets),
 * its RSS, and the processes carrying the soak's marker.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export function childCount(pid: number): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') n += 1;
    } catch {
      // gone
    }
  }
  return n;
}

/** fds of `pid`, not counting client connections to its own port (this script's keep-alive pool). */
export function fdCount(pid: number, port: number): number {
  const clientSockets = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of readFileSync(table, 'latin1').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        const local = cols[1] ?? '';
        if (cols[3] !== '0A' && Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) clientSockets.add(cols[9] ?? '');
      }
    } catch {
      // no such table
    }
  }
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const socket = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (socket === null || !clientSockets.has(socket[1] ?? '')) n += 1;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

export function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? 0) / 1024;
}

export function markedProcesses(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}
