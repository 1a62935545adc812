import { describe, expect, it } from 'vitest';
import { buildIndex, score, tokenize } from '../../src/catalog/discover.js';
import { type Indexed, WordIndex } from '../../src/catalog/word-index.js';

/*
 * The inverted index must rank exactly as scoring every tool one by one
 * (score in discover.ts) would: same tools, same scores, same order.
 */

const WORDS = [
  'read',
  'reader',
  'file',
  'files',
  'list',
  'dir',
  'directory',
  'fetch',
  'fetcher',
  'page',
  'url',
  'text',
  'echo',
  'search',
  'query',
  'queries',
  'write',
  'writes',
  'log',
  'logs',
  'db',
  'sql',
  'deprecated',
];

/** A deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Entry extends Indexed {
  id: number;
}

function generate(count: number, seed: number): Entry[] {
  const next = random(seed);
  const pick = (n: number): string[] => Array.from({ length: n }, () => WORDS[Math.floor(next() * WORDS.length)] as string);
  return Array.from({ length: count }, (_, id) => {
    const name = `${pick(1 + Math.floor(next() * 3)).join('_')}_${id}`;
    const exposed = `s${id % 7}__${name}`;
    const description = pick(Math.floor(next() * 12)).join(' ');
    const properties = Object.fromEntries(pick(Math.floor(next() * 3)).map((w) => [w, {}]));
    return { id, exposed, index: buildIndex({ name, exposed, description, inputSchema: { properties } }) };
  });
}

/** The reference: every entry scored one by one, sorted, cut at limit. */
function scan(entries: readonly Entry[], query: string, limit: number): { id: number; score: number }[] {
  const words = tokenize(query);
  return entries
    .map((e) => ({ e, score: Math.round(score(e.index, words, query) * 100) / 100 }))
    .filter((r) => r.score > 0)
    .sort((a, b) => b.score - a.score || a.e.exposed.localeCompare(b.e.exposed))
    .slice(0, limit)
    .map((r) => ({ id: r.e.id, score: r.score }));
}

const QUERIES = [
  'read file',
  'fil',
  'directory listing',
  'fetch page url',
  'queries',
  'echo',
  'de',
  'sql db query',
  'log',
  'writer',
  'quantum entanglement',
  '',
  'read_file',
  'fetcher pages urls',
];

describe('WordIndex', () => {
  it('ranks exactly as scoring every entry would', () => {
    const entries = generate(800, 7);
    const index = new WordIndex<Entry>();
    for (const e of entries) index.add(e);
    for (const query of QUERIES) {
      for (const limit of [1, 5, 20, 1000]) {
        const got = index.search(tokenize(query), query, limit, () => true).hits.map((h) => ({ id: h.item.id, score: h.score }));
        expect(got, `query '${query}' limit ${limit}`).toEqual(
          query === ''
            ? entries
                .map((e) => ({ e, score: 1 }))
                .sort((a, b) => a.e.exposed.localeCompare(b.e.exposed))
                .slice(0, limit)
                .map((r) => ({ id: r.e.id, score: 1 }))
            : scan(entries, query, limit),
        );
      }
    }
  });

  it('forgets removed entries and reuses their slots', () => {
    const entries = generate(300, 11);
    const index = new WordIndex<Entry>();
    for (const e of entries) index.add(e);
    const kept = entries.filter((e) => e.id % 3 !== 0);
    for (const e of entries) if (e.id % 3 === 0) index.remove(e);
    const added = generate(50, 12).map((e) => ({ ...e, id: e.id + 1000, exposed: `t__${e.exposed}` }));
    for (const e of added) index.add(e);
    expect(index.size).toBe(kept.length + added.length);
    for (const query of QUERIES.filter((q) => q !== '')) {
      const got = index.search(tokenize(query), query, 50, () => true).hits.map((h) => ({ id: h.item.id, score: h.score }));
      expect(got, query).toEqual(scan([...kept, ...added], query, 50));
    }
  });

  // [speed] #30: without a filter the search reads only the entries it ranks (deprecation from a per-slot flag, made with the name order).
  it('without a filter, ranks and counts as with one that takes everything, also after slots are reused', () => {
    const entries = generate(400, 5);
    const index = new WordIndex<Entry>();
    for (const e of entries) index.add(e);
    const same = (live: readonly Entry[]): void => {
      for (const query of QUERIES) {
        for (const limit of [1, 10, 1000]) {
          const bare = index.search(tokenize(query), query, limit, undefined);
          const all = index.search(tokenize(query), query, limit, () => true);
          const ids = (r: typeof bare): { id: number; score: number }[] => r.hits.map((h) => ({ id: h.item.id, score: h.score }));
          expect(ids(bare), `query '${query}' limit ${limit}`).toEqual(ids(all));
          expect(bare.matched).toBe(all.matched);
          if (query !== '') expect(ids(bare)).toEqual(scan(live, query, limit));
        }
      }
    };
    same(entries);
    // Deprecated entries out, others into their slots: a flag left from the old entry would halve a new one's score.
    const gone = entries.filter((e) => e.index.deprecated);
    expect(gone.length).toBeGreaterThan(0);
    for (const e of gone) index.remove(e);
    const added = generate(gone.length, 21)
      .filter((e) => !e.index.deprecated)
      .map((e) => ({ ...e, id: e.id + 5000, exposed: `n__${e.exposed}` }));
    for (const e of added) index.add(e);
    same([...entries.filter((e) => !e.index.deprecated), ...added]);
  });

  // [speed] #30: the whole-query bonus reads an entry's name only when its trigram bits hold the query's.
  it('adds the whole-query bonus wherever the name holds the query, with and without a filter', () => {
    const entries = generate(600, 9);
    const index = new WordIndex<Entry>();
    for (const e of entries) index.add(e);
    const next = random(17);
    let bonus = 0;
    for (let i = 0; i < 60; i += 1) {
      // A piece of some entry's name, its underscores sometimes spaces or capitals: a query some name holds.
      const text = (entries[Math.floor(next() * entries.length)] as Entry).exposed;
      const from = Math.floor(next() * (text.length - 3));
      const piece = text.slice(from, from + 3 + Math.floor(next() * 9));
      const query = next() < 0.5 ? piece.replaceAll('_', ' ') : piece.toUpperCase();
      const compact = query.toLowerCase().replace(/[^a-z0-9]+/g, '_');
      if (tokenize(query).length === 0) continue;
      for (const accept of [undefined, () => true]) {
        const got = index.search(tokenize(query), query, 1000, accept).hits.map((h) => ({ id: h.item.id, score: h.score }));
        expect(got, `query '${query}'`).toEqual(scan(entries, query, 1000));
      }
      if (compact.length >= 3 && entries.some((e) => e.exposed.includes(compact) && score(e.index, tokenize(query), query) > 0)) bonus += 1;
    }
    expect(bonus).toBeGreaterThan(20);
  });

  it('leaves out what the filter refuses', () => {
    const entries = generate(200, 3);
    const index = new WordIndex<Entry>();
    for (const e of entries) index.add(e);
    const even = (e: Entry): boolean => e.id % 2 === 0;
    const got = index.search(tokenize('read file'), 'read file', 30, even).hits.map((h) => ({ id: h.item.id, score: h.score }));
    expect(got).toEqual(scan(entries.filter(even), 'read file', 30));
  });
});
