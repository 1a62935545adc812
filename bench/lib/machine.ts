import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

/** What the numbers were measured on. */
export interface MachineInfo {
  nproc: number;
  cpu: string;
  node: string;
  memGb: number;
  /** 1-minute load average when the bench started: other work on a shared machine shows here. */
  load1: number;
  date: string;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'latin1')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function machineInfo(): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpu: cpuModel(),
    node: process.version,
    memGb: Math.round(totalmem() / 1024 ** 3),
    load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    date: new Date().toISOString(),
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.nproc} CPUs (${m.cpu}), ${m.memGb} GB, Node ${m.node}, load ${m.load1} at start, ${m.date}`;
}
