import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchProcess } from './processes.js';

/** Live heap after the full GC that precedes a snapshot, grouped by what V8 calls each object. */
export interface HeapSummary {
  totalMb: number;
  /** `Name (type)` → bytes and count. */
  groups: Map<string, { bytes: number; count: number }>;
}

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Sums self sizes by constructor/name; types other than objects and closures are grouped by type. */
export function summarizeHeapSnapshot(file: string): HeapSummary {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + typeAt] as number] ?? '?';
    const size = raw.nodes[i + sizeAt] as number;
    total += size;
    const name =
      type === 'object' || type === 'closure' || type === 'native' ? `${raw.strings[raw.nodes[i + nameAt] as number] ?? '?'} (${type})` : `(${type})`;
    const g = groups.get(name) ?? { bytes: 0, count: 0 };
    g.bytes += size;
    g.count += 1;
    groups.set(name, g);
  }
  return { totalMb: total / 1024 ** 2, groups };
}

/**
 * Asks a process started with `--heapsnapshot-signal=SIGUSR2
 * --diagnostic-dir=DIR` for a heap snapshot and waits until the file is
 * complete. The process is paused while V8 writes it.
 */
export async function takeHeapSnapshot(proc: BenchProcess, dir: string, timeoutMs = 120_000): Promise<string> {
  const before = new Set(readdirSync(dir));
  proc.proc.kill('SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (file === undefined) continue;
    const size = statSync(join(dir, file)).size;
    // Written in chunks: done when the size holds still and the JSON has closed.
    if (size > 0 && size === lastSize && readFileSync(join(dir, file), 'utf8').trimEnd().endsWith('}')) return join(dir, file);
    lastSize = size;
  }
  throw new Error(`no heap snapshot from ${proc.name} within ${timeoutMs} ms`);
}

/** The groups that grew most between two summaries. */
export function heapGrowth(before: HeapSummary, after: HeapSummary, top = 12): { name: string; deltaMb: number; countBefore: number; countAfter: number }[] {
  const names = new Set([...before.groups.keys(), ...after.groups.keys()]);
  return [...names]
    .map((name) => {
      const a = before.groups.get(name) ?? { bytes: 0, count: 0 };
      const b = after.groups.get(name) ?? { bytes: 0, count: 0 };
      return { name, deltaMb: (b.bytes - a.bytes) / 1024 ** 2, countBefore: a.count, countAfter: b.count };
    })
    .sort((x, y) => y.deltaMb - x.deltaMb)
    .slice(0, top);
}
