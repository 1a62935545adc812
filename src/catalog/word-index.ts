import type { SearchIndex } from './discover.js';

/*
 * An inverted index over the catalog's words, so a discover query costs
 * what it matches, not the size of the catalog. It ranks exactly as
 * `score` in discover.ts does tool by tool (test/catalog/word-index.test.ts
 * compares the two on a generated catalog): per query word, the best of
 * name (exact 10, prefix 6), parameters (3, 2) and description (2, 1), plus
 * a little for a word the description repeats; tools matching more of the
 * words rank higher; a whole-query substring of the name adds 5; deprecated
 * tools count half.
 */

const NAME = 1;
const PARAMS = 2;
const DESCRIPTION = 4;
/** [field, exact weight, prefix weight], best first. */
const FIELDS: readonly (readonly [number, number, number])[] = [
  [NAME, 10, 6],
  [PARAMS, 3, 2],
  [DESCRIPTION, 2, 1],
];
/** A posting packs the fields a word occurs in (low 3 bits) and its count in the description. */
const COUNT_SHIFT = 3;

/** What the index needs of an entry. */
export interface Indexed {
  readonly exposed: string;
  readonly index: SearchIndex;
}

/** A ranked entry: its score rounded to two decimals, as shown to agents. */
export interface Hit<T> {
  item: T;
  score: number;
}

/** The best entries, and how many matched in all (the limit cut the rest). */
export interface SearchResult<T> {
  hits: Hit<T>[];
  matched: number;
}

const collator = new Intl.Collator();

export class WordIndex<T extends Indexed> {
  /** word → slot → packed fields and count. */
  readonly #postings = new Map<string, Map<number, number>>();
  readonly #items: (T | undefined)[] = [];
  readonly #slots = new Map<T, number>();
  readonly #free: number[] = [];
  /** Every word, sorted, for prefix matches; rebuilt after a change. */
  #vocabulary: string[] | undefined;
  /** Per query: for each (slot, word), exact fields | prefix fields << 3 | count << 6. */
  #scratch = new Int32Array(0);

  get size(): number {
    return this.#slots.size;
  }

  add(item: T): void {
    if (this.#slots.has(item)) return;
    const slot = this.#free.pop() ?? this.#items.length;
    this.#items[slot] = item;
    this.#slots.set(item, slot);
    for (const [word, packed] of postingsOf(item.index)) {
      let posting = this.#postings.get(word);
      if (posting === undefined) {
        posting = new Map();
        this.#postings.set(word, posting);
        this.#vocabulary = undefined;
      }
      posting.set(slot, packed);
    }
  }

  remove(item: T): void {
    const slot = this.#slots.get(item);
    if (slot === undefined) return;
    for (const word of postingsOf(item.index).keys()) {
      const posting = this.#postings.get(word);
      posting?.delete(slot);
      if (posting?.size === 0) {
        this.#postings.delete(word);
        this.#vocabulary = undefined;
      }
    }
    this.#slots.delete(item);
    this.#items[slot] = undefined;
    this.#free.push(slot);
  }

  /**
   * The best `limit` entries for the query words (tokenized as discover.ts
   * does) among those `accept` lets through, best first, ties by name. No
   * words: every accepted entry, by name. `matched` counts every entry that
   * matched, kept or not.
   */
  search(words: readonly string[], rawQuery: string, limit: number, accept: (item: T) => boolean): SearchResult<T> {
    const top = new TopK<T>(limit);
    if (words.length === 0) {
      for (const item of this.#slots.keys()) if (accept(item)) top.offer(item, 1);
      return top.result();
    }
    const n = words.length;
    const cells = this.#items.length * n;
    if (this.#scratch.length < cells) this.#scratch = new Int32Array(Math.max(cells, this.#scratch.length * 2));
    const scratch = this.#scratch;
    const touched: number[] = [];
    const mark = (slot: number, i: number, bits: number): void => {
      const at = slot * n;
      let fresh = true;
      for (let j = 0; j < n; j += 1) if (scratch[at + j] !== 0) fresh = false;
      if (fresh) touched.push(slot);
      scratch[at + i] = (scratch[at + i] as number) | bits;
    };
    for (let i = 0; i < n; i += 1) {
      const word = words[i] as string;
      for (const [slot, packed] of this.#postings.get(word) ?? []) mark(slot, i, (packed & 7) | ((packed >> COUNT_SHIFT) << 6));
      if (word.length < 3) continue;
      for (const other of this.#prefixRelated(word)) {
        for (const [slot, packed] of this.#postings.get(other) ?? []) mark(slot, i, (packed & 7) << 3);
      }
    }
    const compact = rawQuery.toLowerCase().replace(/[^a-z0-9]+/g, '_');
    for (const slot of touched) {
      const item = this.#items[slot] as T;
      const at = slot * n;
      let total = 0;
      let matched = 0;
      for (let i = 0; i < n; i += 1) {
        const cell = scratch[at + i] as number;
        scratch[at + i] = 0;
        const s = cellScore(cell);
        if (s > 0) matched += 1;
        total += s;
      }
      if (!accept(item)) continue;
      if (compact.length >= 3 && item.index.text.includes(compact)) total += 5;
      const ranked = total * (1 + matched / n);
      const score = item.index.deprecated ? ranked / 2 : ranked;
      top.offer(item, Math.round(score * 100) / 100);
    }
    return top.result();
  }

  /** Words of three letters or more that start with `word` or that `word` starts with, `word` itself excluded. */
  #prefixRelated(word: string): string[] {
    const vocabulary = (this.#vocabulary ??= [...this.#postings.keys()].sort());
    const out: string[] = [];
    let lo = 0;
    let hi = vocabulary.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((vocabulary[mid] as string) < word) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < vocabulary.length && (vocabulary[i] as string).startsWith(word); i += 1) {
      if (vocabulary[i] !== word) out.push(vocabulary[i] as string);
    }
    for (let length = 3; length < word.length; length += 1) {
      const prefix = word.slice(0, length);
      if (this.#postings.has(prefix)) out.push(prefix);
    }
    return out;
  }
}

/** One query word's score for one entry, from its cell. */
function cellScore(cell: number): number {
  if (cell === 0) return 0;
  const exact = cell & 7;
  const prefix = (cell >> 3) & 7;
  let best = 0;
  for (const [field, exactWeight, prefixWeight] of FIELDS) {
    const s = (exact & field) !== 0 ? exactWeight : (prefix & field) !== 0 ? prefixWeight : 0;
    if (s > best) best = s;
  }
  const count = cell >> 6;
  return best + Math.min(Math.max(count, 1) - 1, 3) * 0.5;
}

/** Each word of an entry with the fields it occurs in and its description count. */
function postingsOf(index: SearchIndex): Map<string, number> {
  const out = new Map<string, number>();
  for (const word of index.name) out.set(word, (out.get(word) ?? 0) | NAME);
  for (const word of index.params) out.set(word, (out.get(word) ?? 0) | PARAMS);
  for (const [word, count] of index.description) out.set(word, ((out.get(word) ?? 0) | DESCRIPTION) + (count << COUNT_SHIFT));
  return out;
}

/** The best k by score, ties by name (locale order); k small, so an ordered array does. */
class TopK<T extends Indexed> {
  readonly #k: number;
  readonly #hits: Hit<T>[] = [];
  #offered = 0;

  constructor(k: number) {
    this.#k = k;
  }

  offer(item: T, score: number): void {
    this.#offered += 1;
    const hits = this.#hits;
    if (this.#k <= 0) return;
    if (hits.length === this.#k && before(hits[hits.length - 1] as Hit<T>, item, score)) return;
    let lo = 0;
    let hi = hits.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(hits[mid] as Hit<T>, item, score)) lo = mid + 1;
      else hi = mid;
    }
    hits.splice(lo, 0, { item, score });
    if (hits.length > this.#k) hits.pop();
  }

  result(): SearchResult<T> {
    return { hits: this.#hits, matched: this.#offered };
  }
}

/** Whether `hit` ranks before (item, score). */
function before<T extends Indexed>(hit: Hit<T>, item: T, score: number): boolean {
  return hit.score > score || (hit.score === score && collator.compare(hit.item.exposed, item.exposed) <= 0);
}
