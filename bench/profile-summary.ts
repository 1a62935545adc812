/*
 * Summarizes a V8 .cpuprofile (node --cpu-prof, or the inspector's
 * Profiler.stop): top functions by self time, self time by package, and
 * inclusive time by package (the share of samples with that package
 * anywhere on the stack: "time spent in or under zod").
 *
 *   node dist/bench/profile-summary.js FILE.cpuprofile [--top N]
 *   node dist/bench/profile-summary.js FILE.cpuprofile --callers writeUtf8String
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fmt } from './lib/stats.js';
import { renderTable, type Table } from './lib/table.js';

/** The parts of a V8 CPU profile this reads. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  /** Sampled wall time in ms, and the part that was not idle. */
  totalMs: number;
  busyMs: number;
  /** `caller`: the nearest frame outside Node's own code (what in the app or a package led here), with its share of this function's time. */
  functions: { name: string; where: string; group: string; selfMs: number; caller: string }[];
  selfByGroup: { group: string; ms: number }[];
  inclusiveByGroup: { group: string; ms: number }[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** Where a frame belongs: a package, a stonegate folder, a Node internal area, or a V8 pseudo-frame. */
export function groupOf(url: string, functionName: string): string {
  if (url === '') return SPECIAL.has(functionName) ? functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    const pkg = parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '?');
    // SDK v2 ships each package as bundled chunks: its rows are per package (sdk server, sdk client).
    if (pkg.startsWith('@modelcontextprotocol/') && ['server', 'client', 'core', 'node'].includes(parts[1] ?? '')) return `sdk ${parts[1]}`;
    return pkg;
  }
  const dist = url.indexOf('/dist/');
  if (dist !== -1) {
    const rel = url.slice(dist + '/dist/'.length).split('/');
    return `stonegate ${rel.slice(0, 2).join('/')}`;
  }
  if (url.startsWith('node:')) {
    const parts = url.slice('node:'.length).split('/');
    return `node:${parts.slice(0, parts[0] === 'internal' ? (parts[1] === 'deps' ? 3 : 2) : 1).join('/')}`;
  }
  return url;
}

function shortWhere(url: string, line: number): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  const dist = url.indexOf('/dist/');
  const rel = nm !== -1 ? url.slice(nm + '/node_modules/'.length) : dist !== -1 ? url.slice(dist + '/dist/'.length) : url.replace(/^file:\/\//, '');
  return `${rel}:${line + 1}`;
}

/**
 * A time window in µs of the monotonic clock: V8 stamps profiles with it,
 * and `process.hrtime.bigint() / 1000n` reads the same clock in any process
 * on the machine, so a bench can cut the gateway's start-up out.
 */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** The monotonic clock in µs, as V8 profiles use it. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Builds the summary; `top` functions by self time; only samples inside `window` when given. */
export function summarize(profile: CpuProfile, top = 25, window?: Window): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // A sample's duration is the gap to the next sample.
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i += 1) {
    at += deltas[i] ?? 0;
    if (window !== undefined && (at < window.fromUs || at > window.toUs)) continue;
    const id = samples[i] as number;
    const ms = (deltas[i + 1] ?? 0) / 1000;
    self.set(id, (self.get(id) ?? 0) + ms);
  }
  let totalMs = 0;
  let idleMs = 0;
  const fn = new Map<string, { name: string; where: string; group: string; selfMs: number; callers: Map<string, number> }>();
  const appCaller = new Map<number, string>();
  const callerOf = (id: number): string => {
    const known = appCaller.get(id);
    if (known !== undefined) return known;
    let up = parent.get(id);
    let found = '';
    while (up !== undefined) {
      const f = byId.get(up)?.callFrame;
      if (f !== undefined && f.url !== '' && !f.url.startsWith('node:')) {
        found = `${f.functionName || '(anonymous)'} ${shortWhere(f.url, f.lineNumber)}`;
        break;
      }
      up = up === undefined ? undefined : parent.get(up);
    }
    appCaller.set(id, found);
    return found;
  };
  const selfGroups = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const groupsOnStack = new Map<number, Set<string>>();
  const stackGroups = (id: number): Set<string> => {
    let set = groupsOnStack.get(id);
    if (set !== undefined) return set;
    const node = byId.get(id);
    const up = parent.get(id);
    set = new Set(up === undefined ? [] : stackGroups(up));
    if (node !== undefined) set.add(groupOf(node.callFrame.url, node.callFrame.functionName));
    groupsOnStack.set(id, set);
    return set;
  };
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    totalMs += ms;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    const group = groupOf(url, functionName);
    const name = functionName === '' ? '(anonymous)' : functionName;
    const key = `${name}\u0000${url}\u0000${lineNumber}`;
    const entry = fn.get(key) ?? { name, where: shortWhere(url, lineNumber), group, selfMs: 0, callers: new Map<string, number>() };
    entry.selfMs += ms;
    if (url === '' || url.startsWith('node:')) {
      const caller = callerOf(id);
      entry.callers.set(caller, (entry.callers.get(caller) ?? 0) + ms);
    }
    fn.set(key, entry);
    selfGroups.set(group, (selfGroups.get(group) ?? 0) + ms);
    for (const g of stackGroups(id)) inclusive.set(g, (inclusive.get(g) ?? 0) + ms);
  }
  const sorted = <T extends { ms: number }>(list: T[]): T[] => list.sort((a, b) => b.ms - a.ms);
  return {
    totalMs,
    busyMs: totalMs - idleMs,
    functions: [...fn.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top)
      .map(({ callers, ...f }) => {
        const [caller, ms] = [...callers].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
        return { ...f, caller: caller === '' ? '' : `${caller} (${Math.round((ms / f.selfMs) * 100)} %)` };
      }),
    selfByGroup: sorted([...selfGroups].map(([group, ms]) => ({ group, ms }))),
    inclusiveByGroup: sorted([...inclusive].filter(([g]) => g !== '(root)').map(([group, ms]) => ({ group, ms }))),
  };
}

/** Self time of the functions named `name`, split by the call stack above them (`depth` frames, innermost first). */
export function callersOf(profile: CpuProfile, name: string, depth = 14): { stack: string; ms: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const out = new Map<string, number>();
  for (let i = 0; i < samples.length; i += 1) {
    const node = byId.get(samples[i] as number);
    if (node?.callFrame.functionName !== name) continue;
    const frames: string[] = [];
    let up = parent.get(node.id);
    while (up !== undefined && frames.length < depth) {
      const f = byId.get(up)?.callFrame;
      if (f !== undefined) frames.push(`${f.functionName || '(anonymous)'} ${shortWhere(f.url, f.lineNumber)}`.trim());
      up = parent.get(up);
    }
    const key = frames.join(' ← ');
    out.set(key, (out.get(key) ?? 0) + (deltas[i + 1] ?? 0) / 1000);
  }
  return [...out].map(([stack, ms]) => ({ stack, ms })).sort((a, b) => b.ms - a.ms);
}

const pct = (ms: number, of: number): string => `${((ms / of) * 100).toFixed(1)} %`;

/** The summary as tables (shares are of busy time: idle is left out). */
export function summaryTables(summary: ProfileSummary, label: string, groups = 15): Table[] {
  const busy = summary.busyMs;
  return [
    {
      title: `${label}: top functions by self time (${fmt(busy, 0)} ms busy of ${fmt(summary.totalMs, 0)} ms sampled)`,
      columns: ['function', 'where', 'self ms', 'of busy', 'reached from (first frame outside node:, share)'],
      leftColumns: [0, 1, 4],
      rows: summary.functions.map((f) => [f.name, f.where || f.group, fmt(f.selfMs, 1), pct(f.selfMs, busy), f.caller]),
    },
    {
      title: `${label}: self time by area (exclusive; sums to 100 % of busy)`,
      columns: ['area', 'self'],
      rows: summary.selfByGroup.slice(0, groups).map(({ group, ms }) => [group, pct(ms, busy)]),
    },
    {
      title: `${label}: inclusive time by package (the package anywhere on the stack; overlaps)`,
      columns: ['package / stonegate folder', 'inclusive', 'self'],
      rows: summary.inclusiveByGroup
        .filter(({ group }) => !group.startsWith('node:') && !group.startsWith('('))
        .slice(0, groups)
        .map(({ group, ms }) => [group, pct(ms, busy), pct(summary.selfByGroup.find((g) => g.group === group)?.ms ?? 0, busy)]),
    },
  ];
}

function cli(argv: string[]): number {
  const file = argv.find((a) => !a.startsWith('--'));
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [--top N] [--callers FUNCTION]\n');
    return 2;
  }
  const topAt = argv.indexOf('--top');
  const top = topAt === -1 ? 25 : Number(argv[topAt + 1]);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const callersAt = argv.indexOf('--callers');
  if (callersAt !== -1) {
    const name = argv[callersAt + 1] ?? '';
    for (const { stack, ms } of callersOf(profile, name).slice(0, top)) process.stdout.write(`${fmt(ms, 1).padStart(9)} ms  ${name} ← ${stack}\n`);
    return 0;
  }
  const summary = summarize(profile, top);
  for (const table of summaryTables(summary, file)) process.stdout.write(`${renderTable(table)}\n\n`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = cli(process.argv.slice(2));
