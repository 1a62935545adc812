import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * Issue #20: the folders of src/ form no import cycle; backends/ and the
 * database kit (kit/) never import src/, and the kit imports no backend;
 * only the built-ins' mount modules (src/builtins/) import backends/.
 * Type-only imports count: they tie folders together for a reader too.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOPS = ['src', 'backends', 'kit'];
const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of the source files, as [importer, imported] paths from the repository root. */
function imports(): [string, string][] {
  const edges: [string, string][] = [];
  for (const file of TOPS.flatMap(sourceFiles)) {
    for (const match of readFileSync(join(ROOT, file), 'utf8').matchAll(IMPORT)) {
      const spec = match[1] ?? match[2] ?? '';
      edges.push([file, normalize(join(dirname(file), spec))]);
    }
  }
  return edges;
}

/** A file's folder: src/<folder> (src for the files at its top), backends/<name>, kit. */
function folderOf(path: string): string {
  const parts = path.split('/');
  if ((parts[0] === 'src' || parts[0] === 'backends') && parts.length > 2) return `${parts[0]}/${parts[1]}`;
  return parts[0] ?? path;
}

/** The strongly connected components of more than one node (Tarjan): each is a cycle. */
function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string | undefined;
    do {
      w = stack.pop();
      if (w !== undefined) component.push(w);
    } while (w !== undefined && w !== v);
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the import structure (#20)', () => {
  const edges = imports();

  it('finds the imports it checks', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges).toContainEqual(['src/builtins/coord-mount.ts', 'backends/coord/server.js']);
  });

  it('has no import cycle between folders', () => {
    const graph = new Map<string, Set<string>>();
    const via = new Map<string, string>();
    for (const [from, to] of edges) {
      const a = folderOf(from);
      const b = folderOf(to);
      if (a === b) continue;
      if (!graph.has(a)) graph.set(a, new Set());
      graph.get(a)?.add(b);
      via.set(`${a} -> ${b}`, `${from} imports ${to}`);
    }
    const found = cycles(graph).map((cycle) => ({
      cycle,
      edges: [...via]
        .filter(([edge]) => cycle.includes(edge.split(' -> ')[0] as string) && cycle.includes(edge.split(' -> ')[1] as string))
        .map(([, why]) => why),
    }));
    expect(found).toEqual([]);
  });

  it('keeps backends/ and the kit off src/, and the kit off backends/', () => {
    const wrong = edges.filter(
      ([from, to]) =>
        ((from.startsWith('backends/') || from.startsWith('kit/')) && to.startsWith('src/')) || (from.startsWith('kit/') && to.startsWith('backends/')),
    );
    expect(wrong).toEqual([]);
  });

  it("reaches backends/ from src/ only through the built-ins' mount modules", () => {
    const importers = new Set(edges.filter(([from, to]) => from.startsWith('src/') && to.startsWith('backends/')).map(([from]) => from));
    expect([...importers].filter((file) => !file.startsWith('src/builtins/'))).toEqual([]);
    expect(importers).toContain('src/builtins/coord.ts');
  });

  it('detects a cycle when there is one', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
      ['d', new Set(['a'])],
    ]);
    expect(cycles(graph)).toEqual([['a', 'b', 'c']]);
    expect(cycles(new Map([['a', new Set(['b'])]]))).toEqual([]);
  });
});
