import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { BackendSchema } from '../../src/config/schema.js';
import { ERROR_CODES } from '../../src/errors.js';

/*
 * docs/ is the users' reference: these tests fail when the code grows a
 * route, an error code, a config key or a CLI command that docs/ does not
 * document (and, for errors and routes, when docs/ documents one the code
 * does not have). Coordination's tools and routes: coordination.test.ts.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8');

/** The text under a Markdown heading, up to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start === -1) throw new Error(`no heading '${heading}'`);
  const level = (/^#+/.exec(heading) ?? [''])[0].length;
  const end = lines.findIndex((line, i) => {
    if (i <= start) return false;
    const m = /^(#+)\s/.exec(line);
    return m !== null && (m[1] ?? '').length <= level;
  });
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** The rows of the Markdown table that starts with `header`, as arrays of trimmed cells. */
function tableRows(markdown: string, header: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === header);
  if (start === -1) throw new Error(`no table with header '${header}'`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.trim().startsWith('|')) break;
    rows.push(
      line
        .trim()
        .replace(/^\|/, '')
        .replace(/\|$/, '')
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('docs/errors.md error table', () => {
  const rows = tableRows(section(read('docs/errors.md'), '# Errors'), '| code | HTTP | meaning |');
  const documented = new Map<string, number>();
  for (const [code = '', status = ''] of rows) documented.set(/^`([A-Z_]+)`$/.exec(code)?.[1] ?? code, Number(status));

  it('has one well-formed row per code', () => {
    for (const [code = '', status = '', meaning = ''] of rows) {
      expect(code, 'code cell').toMatch(/^`[A-Z_]+`$/);
      expect(status, `${code} status cell`).toMatch(/^\d{3}$/);
      expect(meaning.length, `${code} has no meaning`).toBeGreaterThan(0);
    }
    expect(documented.size, 'a code is in the error table twice').toBe(rows.length);
  });

  it('has a row with the right HTTP status for every code of ERROR_CODES', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      expect(documented.get(code), `docs/errors.md error table: ${code}`).toBe(status);
    }
  });

  it('has no code that ERROR_CODES lacks', () => {
    const unknown = [...documented.keys()].filter((code) => !(code in ERROR_CODES));
    expect(unknown).toEqual([]);
  });
});

describe('docs/rest.md REST reference', () => {
  // [dashboard] dashboard-routes.ts: GET /server/history, GET /stats/history.
  const rest = read('src/http/rest.ts') + read('src/http/ui.ts') + read('src/http/probe-routes.ts') + read('src/http/dashboard-routes.ts');
  const routes = [...rest.matchAll(/\bapp\.(get|post|put|patch|delete)\(\s*(['"`])([^'"`]+)\2/g)].map(
    (m) => `${(m[1] ?? '').toUpperCase()} ${(m[3] ?? '').replace(/:([A-Za-z_]\w*)/g, '{$1}')}`,
  );
  // The walkthrough at the end shows routes in use; the reference is what precedes it.
  const reference = section(read('docs/rest.md'), '# REST reference').split('\n## Walkthrough with curl\n')[0] ?? '';

  it('finds the routes of src/http/rest.ts', () => {
    expect(routes.length).toBeGreaterThan(0);
  });

  it('documents every route registered in src/http/rest.ts, src/http/ui.ts, src/http/probe-routes.ts and src/http/dashboard-routes.ts', () => {
    const missing = routes.filter((route) => !reference.includes(`\`${route}\``));
    expect(missing).toEqual([]);
  });

  it('has a heading only for routes that exist', () => {
    const headings = [...reference.matchAll(/^## `([A-Z]+ \/\S*)`$/gm)].map((m) => m[1] ?? '');
    expect(headings.length).toBeGreaterThan(0);
    expect(headings.filter((h) => !routes.includes(h))).toEqual([]);
  });
});

describe('docs/configuration.md configuration reference', () => {
  const reference = section(read('docs/configuration.md'), '# Configuration reference');
  const toml = parseToml(read('stonegate.toml')) as Record<string, unknown>;

  function keysOf(value: unknown): string[] {
    const tables = Array.isArray(value) ? value : [value];
    const keys = new Set<string>();
    for (const table of tables) for (const key of Object.keys(table as Record<string, unknown>)) keys.add(key);
    return [...keys];
  }

  function documentedKeys(heading: string): string[] {
    return tableRows(section(reference, heading), '| key | type | default | meaning |').map((row) => (row[0] ?? '').replace(/`/g, ''));
  }

  for (const [name, value] of Object.entries(toml)) {
    const heading = Array.isArray(value) ? `## \`[[${name}]]\`` : `## \`[${name}]\``;
    it(`documents every key of ${heading.slice(3)} in stonegate.toml`, () => {
      expect(keysOf(value).filter((key) => !documentedKeys(heading).includes(key))).toEqual([]);
    });
  }

  it('documents every key a [[backends]] entry accepts', () => {
    const documented = documentedKeys('## `[[backends]]`');
    expect(Object.keys(BackendSchema.shape).filter((key) => !documented.includes(key))).toEqual([]);
  });
});

describe('docs/cli.md CLI reference', () => {
  const cli = read('src/cli/main.ts');
  const usage = /const USAGE = `([\s\S]*?)`;/.exec(cli)?.[1] ?? '';
  const commandLines = usage.split('\n').filter((line) => /^\s+stonegate\s/.test(line));
  const reference = section(read('docs/cli.md'), '# CLI reference');

  it('finds the usage text of src/cli/main.ts', () => {
    expect(commandLines.length).toBeGreaterThan(0);
  });

  it('documents every command of the usage text', () => {
    const commands = commandLines.map((line) => line.trim().split(/\s+/)[1] ?? '').filter((word) => !word.startsWith('-'));
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.filter((command) => !reference.includes(`stonegate ${command}`))).toEqual([]);
  });

  it('documents every flag of the usage text', () => {
    const flags = new Set(commandLines.flatMap((line) => line.match(/(?<![\w-])--?[a-z][a-z-]*/g) ?? []));
    expect(flags.size).toBeGreaterThan(0);
    const missing = [...flags].filter((flag) => !new RegExp(`(?<![\\w-])${escapeRegExp(flag)}(?![\\w-])`).test(reference));
    expect(missing).toEqual([]);
  });
});
