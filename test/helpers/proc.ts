import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { expect } from 'vitest';
import { eventually, type RunningGateway } from './harness.js';

/*
 * What a running gateway holds, read from /proc (Linux): its child
 * processes and its open file descriptors. Tests take a snapshot once the
 * backends run and check that, after failures and restarts, the gateway is
 * back to it — no leaked process, pipe or socket.
 */

/** Pids of the live (non-zombie) processes whose parent is `pid`. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // Fields after the command, which is in parentheses and may hold spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z' && fields[0] !== 'X') children.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return children;
}

/** Socket inodes of TCP connections whose local port is `port` (the gateway's accepted client connections). */
function acceptedSockets(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const inode = cols[9];
      const state = cols[3];
      // 0A is LISTEN: the listening socket is the gateway's own and stays.
      if (local === undefined || inode === undefined || state === '0A') continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(inode);
    }
  }
  return inodes;
}

/**
 * Open file descriptors of `pid`, leaving out connections that clients
 * (this test's fetch keep-alive pool) opened to `clientPort`: those come and
 * go with the HTTP client, not with the gateway's own resources.
 */
export function openFds(pid: number, clientPort?: number): string[] {
  const skip = clientPort === undefined ? new Set<string>() : acceptedSockets(clientPort);
  const fds: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    const socket = /^socket:\[(\d+)\]$/.exec(target);
    if (socket !== null && skip.has(socket[1] ?? '')) continue;
    fds.push(`${fd} -> ${target}`);
  }
  return fds;
}

/** Resident set size of `pid` in kB. */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

export interface Footprint {
  children: number;
  fds: number;
}

/** The gateway's child-process and fd counts now. */
export function footprint(gw: RunningGateway): Footprint {
  const pid = gw.proc.pid ?? -1;
  return { children: childPids(pid).length, fds: openFds(pid, Number(new URL(gw.url).port)).length };
}

/**
 * Waits until the gateway holds as many children and fds as in `baseline`; fails with both listings if it does not.
 * The wait is only a bound for a leak that never goes away (15 s: a restarted backend on a loaded machine can take
 * several seconds to be back); a gateway that is back sooner passes sooner.
 */
export async function expectBackTo(gw: RunningGateway, baseline: Footprint, timeoutMs = 15_000): Promise<void> {
  try {
    await eventually(() => {
      const now = footprint(gw);
      return now.children === baseline.children && now.fds === baseline.fds;
    }, timeoutMs);
  } catch {
    const pid = gw.proc.pid ?? -1;
    expect({ children: childPids(pid), fds: openFds(pid, Number(new URL(gw.url).port)) }).toEqual({
      ...baseline,
      note: 'counts did not return to the baseline',
    });
  }
}
