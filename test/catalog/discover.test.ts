import type { Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { buildIndex, score, tokenize } from '../../src/catalog/discover.js';
import { silentLogger } from '../../src/log.js';
import { FILESYSTEM_TOOLS } from '../helpers/filesystem-tools.js';

function catalog(): Catalog {
  return new Catalog({ separator: '__', ttlSeconds: 300, logger: silentLogger() });
}

function names(ranked: readonly { tool: { name: string } }[]): string[] {
  return ranked.map((r) => r.tool.name);
}

const plain = (name: string, description: string): Tool => ({ name, description, inputSchema: { type: 'object' } });

describe('tokenize', () => {
  it('splits snake_case, kebab-case and camelCase into lowercase words', () => {
    expect(tokenize('read_text_file')).toEqual(['read', 'text', 'file']);
    expect(tokenize('list-allowed-dirs')).toEqual(['list', 'allowed', 'dir']);
    expect(tokenize('getFileInfo')).toEqual(['get', 'file', 'info']);
    expect(tokenize('parseHTTPResponse')).toEqual(['parse', 'http', 'response']);
  });

  it('drops stopwords and stems plurals', () => {
    expect(tokenize('Search for the files in directories')).toEqual(['search', 'file', 'directory']);
    expect(tokenize('queries class')).toEqual(['query', 'class']);
  });

  it('gives nothing for punctuation and stopwords only', () => {
    expect(tokenize(' -- the / of ')).toEqual([]);
  });
});

describe('score', () => {
  const index = buildIndex({ name: 'fetch_page', exposed: 'web__fetch_page', description: 'Downloads a URL', inputSchema: { properties: { url: {} } } });

  it('ranks a word in the name over the same word in the parameters and the description', () => {
    const inName = score(index, ['fetch'], 'fetch');
    const inParams = score(index, ['url'], 'url');
    const inDescription = score(index, ['download'], 'download');
    expect(inName).toBeGreaterThan(inParams);
    expect(inParams).toBeGreaterThan(inDescription);
    expect(inDescription).toBeGreaterThan(0);
  });

  it('gives 0 when no word matches, and 1 to every tool for an empty query', () => {
    expect(score(index, ['zebra'], 'zebra')).toBe(0);
    expect(score(index, [], '')).toBe(1);
  });

  it('matches word prefixes of three letters or more, more weakly than whole words', () => {
    expect(score(index, ['fet'], 'fet')).toBeGreaterThan(0);
    expect(score(index, ['fet'], 'fet')).toBeLessThan(score(index, ['fetch'], 'fetch'));
    expect(score(index, ['fe'], 'fe')).toBe(0);
  });
});

describe('Catalog.discover', () => {
  it('ranks the read tools above write_file and list_directory for "read file"', () => {
    const c = catalog();
    c.set('filesystem', FILESYSTEM_TOOLS);
    const ranked = names(c.discover('read file').ranked);
    expect(ranked[0]).toBe('read_text_file');
    for (const reader of ['read_file', 'read_text_file']) {
      for (const other of ['write_file', 'list_directory']) {
        expect(ranked.indexOf(reader), `${reader} above ${other}`).toBeLessThan(ranked.indexOf(other));
      }
    }
    expect(ranked.indexOf('list_directory')).toBeGreaterThan(-1);
  });

  it('ranks a deprecated tool below its replacement', () => {
    const c = catalog();
    c.set('filesystem', FILESYSTEM_TOOLS);
    const ranked = names(c.discover('read_file').ranked);
    expect(ranked.indexOf('read_text_file')).toBeLessThan(ranked.indexOf('read_file'));
  });

  it('finds list_directory first for "list directory contents"', () => {
    const c = catalog();
    c.set('filesystem', FILESYSTEM_TOOLS);
    expect(names(c.discover('list directory contents').ranked).slice(0, 2)).toEqual(['list_directory', 'list_directory_with_sizes']);
  });

  it('puts a tool named after the word above one that only mentions it', () => {
    const c = catalog();
    c.set('a', [plain('misc', 'Can also translate text between languages')]);
    c.set('b', [plain('translate', 'Converts text')]);
    expect(names(c.discover('translate').ranked)).toEqual(['translate', 'misc']);
  });

  it('filters by server and honours the limit', () => {
    const c = catalog();
    c.set('filesystem', FILESYSTEM_TOOLS);
    c.set('notes', [plain('read_note', 'Read a note file')]);
    const onlyNotes = c.discover('read file', { servers: new Set(['notes']) }).ranked;
    expect(onlyNotes.map((r) => r.tool.exposed)).toEqual(['notes__read_note']);
    expect(c.discover('file', { limit: 3 }).ranked).toHaveLength(3);
    // matched counts every hit, not only the ones the limit kept
    expect(c.discover('file', { limit: 3 }).matched).toBe(c.discover('file', { limit: 1000 }).ranked.length);
    expect(c.discover('file', { limit: 3 }).matched).toBeGreaterThan(3);
    expect(c.discover('read file').ranked.every((r, i, all) => i === 0 || (all[i - 1]?.score ?? 0) >= r.score)).toBe(true);
  });

  it('lists tools in catalog order for an empty query, up to 20 by default', () => {
    const c = catalog();
    c.set('filesystem', FILESYSTEM_TOOLS);
    c.set(
      'more',
      Array.from({ length: 10 }, (_, i) => plain(`tool${i}`, 'x')),
    );
    expect(c.discover('').ranked).toHaveLength(20);
    expect(c.discover('', { limit: 100 }).ranked).toHaveLength(FILESYSTEM_TOOLS.length + 10);
  });

  it('returns nothing when no word matches', () => {
    const c = catalog();
    c.set('filesystem', FILESYSTEM_TOOLS);
    expect(c.discover('kubernetes').ranked).toEqual([]);
  });
});
