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

/** A word's postings, flat: entry slots and their packed fields and counts, index by index. */
interface Flat {
  readonly slots: Int32Array;
  readonly packed: Int32Array;
}

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

/**
 * The locale order of ties, made at the first search rather than at import:
 * building an Intl.Collator maps ICU's collation data (~2.5 MB of RSS), which
 * a gateway nobody searches does not need (#30, idle memory).
 */
let collator: Intl.Collator | undefined;

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
  /** Per query: 1 for a slot some word touched. */
  #seen = new Uint8Array(0);
  /** A word's postings as flat arrays for the search loop, made on first search after a change of that word. */
  readonly #flat = new Map<string, Flat>();
  /** Slot → place of its entry's name in locale order, for ties; made on first search after a change (a sort, once, instead of a collator compare per tie). */
  #rank: Int32Array | undefined;
  /**
   * [speed] Slot → 1 for a deprecated entry, made with #rank: the search loop scores a touched entry from
   * typed arrays alone and reads the entry itself only for the filter or a place in the top k (#30, gate_discover).
   */
  #deprecated = new Uint8Array(0);
  /**
   * [speed] Slot → the trigrams of its lowercased name, hashed into 64 bits (two cells), made with #rank: an
   * entry whose bits lack one of the query's cannot contain it, so the whole-query bonus reads the entry's name
   * only when they all are there (#30: that read was over half of a search through the gateway, cache cold).
   */
  #grams = new Int32Array(0);

  get size(): number {
    return this.#slots.size;
  }

  add(item: T): void {
    if (this.#slots.has(item)) return;
    const slot = this.#free.pop() ?? this.#items.length;
    this.#items[slot] = item;
    this.#slots.set(item, slot);
    this.#rank = undefined;
    for (const [word, packed] of postingsOf(item.index)) {
      let posting = this.#postings.get(word);
      if (posting === undefined) {
        posting = new Map();
        this.#postings.set(word, posting);
        this.#vocabulary = undefined;
      }
      posting.set(slot, packed);
      this.#flat.delete(word);
    }
  }

  remove(item: T): void {
    const slot = this.#slots.get(item);
    if (slot === undefined) return;
    for (const word of postingsOf(item.index).keys()) {
      const posting = this.#postings.get(word);
      posting?.delete(slot);
      this.#flat.delete(word);
      if (posting?.size === 0) {
        this.#postings.delete(word);
        this.#vocabulary = undefined;
      }
    }
    this.#slots.delete(item);
    this.#rank = undefined;
    this.#items[slot] = undefined;
    this.#free.push(slot);
  }

  /**
   * The best `limit` entries for the query words (tokenized as discover.ts
   * does) among those `accept` lets through (every entry when undefined),
   * best first, ties by name. No words: every accepted entry, by name.
   * `matched` counts every accepted entry that matched, kept or not.
   */
  search(words: readonly string[], rawQuery: string, limit: number, accept: ((item: T) => boolean) | undefined): SearchResult<T> {
    const top = new TopK(limit, this.#ranks());
    const items = this.#items;
    if (words.length === 0) {
      for (const [item, slot] of this.#slots) if (accept === undefined || accept(item)) top.offer(slot, 1);
      return top.result(items);
    }
    const n = words.length;
    const cells = this.#items.length * n;
    if (this.#scratch.length < cells) this.#scratch = new Int32Array(Math.max(cells, this.#scratch.length * 2));
    if (this.#seen.length < this.#items.length) this.#seen = new Uint8Array(Math.max(this.#items.length, this.#seen.length * 2));
    const scratch = this.#scratch;
    const seen = this.#seen;
    const touched: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const word = words[i] as string;
      const exact = this.#flatOf(word);
      if (exact !== undefined) {
        const { slots, packed } = exact;
        for (let k = 0; k < slots.length; k += 1) {
          const slot = slots[k] as number;
          if (seen[slot] === 0) {
            seen[slot] = 1;
            touched.push(slot);
          }
          const p = packed[k] as number;
          scratch[slot * n + i] = (scratch[slot * n + i] as number) | (p & 7) | ((p >> COUNT_SHIFT) << 6);
        }
      }
      if (word.length < 3) continue;
      for (const other of this.#prefixRelated(word)) {
        const { slots, packed } = this.#flatOf(other) as Flat;
        for (let k = 0; k < slots.length; k += 1) {
          const slot = slots[k] as number;
          if (seen[slot] === 0) {
            seen[slot] = 1;
            touched.push(slot);
          }
          scratch[slot * n + i] = (scratch[slot * n + i] as number) | (((packed[k] as number) & 7) << 3);
        }
      }
    }
    const compact = rawQuery.toLowerCase().replace(/[^a-z0-9]+/g, '_');
    const deprecated = this.#deprecated;
    const grams = this.#grams;
    const wanted = new Int32Array(2);
    if (compact.length >= 3) trigrams(compact, wanted, 0);
    const low = wanted[0] as number;
    const high = wanted[1] as number;
    for (const slot of touched) {
      seen[slot] = 0;
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
      if (accept !== undefined && !accept(items[slot] as T)) continue;
      const half = deprecated[slot] === 1;
      // [speed] The whole-query bonus is looked for only when it could bring the entry into the top k: a substring
      // test for each of the 10,000 entries a common word touches was over half of such a search.
      if (
        compact.length >= 3 &&
        ((grams[2 * slot] as number) & low) === low &&
        ((grams[2 * slot + 1] as number) & high) === high &&
        top.admits(slot, scoreOf(total + 5, matched / n, half)) &&
        (items[slot] as T).index.text.includes(compact)
      )
        total += 5;
      top.offer(slot, scoreOf(total, matched / n, half));
    }
    return top.result(items);
  }

  /** Slot → place of the entry's name in locale order (#rank), sorted once after a change. */
  #ranks(): Int32Array {
    if (this.#rank !== undefined) return this.#rank;
    collator ??= new Intl.Collator();
    const order = collator;
    const slots = [...this.#slots.values()].sort((a, b) => order.compare((this.#items[a] as T).exposed, (this.#items[b] as T).exposed));
    const rank = new Int32Array(this.#items.length);
    for (let i = 0; i < slots.length; i += 1) rank[slots[i] as number] = i;
    const deprecated = new Uint8Array(this.#items.length);
    const grams = new Int32Array(2 * this.#items.length);
    for (const slot of slots) {
      const { index } = this.#items[slot] as T;
      deprecated[slot] = index.deprecated ? 1 : 0;
      trigrams(index.text, grams, 2 * slot);
    }
    this.#deprecated = deprecated;
    this.#grams = grams;
    this.#rank = rank;
    return rank;
  }

  /** A word's postings as flat arrays (slots, packed), from its map; undefined for a word no entry has. */
  #flatOf(word: string): Flat | undefined {
    let flat = this.#flat.get(word);
    if (flat !== undefined) return flat;
    const posting = this.#postings.get(word);
    if (posting === undefined) return undefined;
    flat = { slots: Int32Array.from(posting.keys()), packed: Int32Array.from(posting.values()) };
    this.#flat.set(word, flat);
    return flat;
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

/** The best field weight for each combination of exact (low 3 bits) and prefix (next 3) fields. */
const BEST = (() => {
  const table = new Float64Array(64);
  for (let bits = 0; bits < 64; bits += 1) {
    const exact = bits & 7;
    const prefix = bits >> 3;
    for (const [field, exactWeight, prefixWeight] of FIELDS) {
      const s = (exact & field) !== 0 ? exactWeight : (prefix & field) !== 0 ? prefixWeight : 0;
      if (s > (table[bits] as number)) table[bits] = s;
    }
  }
  return table;
})();

/** Sets in out[at] and out[at + 1] one of 64 bits for each three characters in a row of `text` (a hash of them). */
function trigrams(text: string, out: Int32Array, at: number): void {
  for (let i = 2; i < text.length; i += 1) {
    const bit = Math.imul(text.charCodeAt(i - 2) * 961 + text.charCodeAt(i - 1) * 31 + text.charCodeAt(i), 0x9e3779b1) >>> 26;
    out[at + (bit >> 5)] = (out[at + (bit >> 5)] as number) | (1 << (bit & 31));
  }
}

/** An entry's score from its words' total and the share of query words it matched (rounded to 0.01, as shown). */
function scoreOf(total: number, share: number, deprecated: boolean): number {
  const ranked = total * (1 + share);
  return Math.round((deprecated ? ranked / 2 : ranked) * 100) / 100;
}

/** One query word's score for one entry, from its cell. */
function cellScore(cell: number): number {
  if (cell === 0) return 0;
  const count = cell >> 6;
  return (BEST[cell & 63] as number) + Math.min(Math.max(count, 1) - 1, 3) * 0.5;
}

/** Each word of an entry with the fields it occurs in and its description count. */
function postingsOf(index: SearchIndex): Map<string, number> {
  const out = new Map<string, number>();
  for (const word of index.name) out.set(word, (out.get(word) ?? 0) | NAME);
  for (const word of index.params) out.set(word, (out.get(word) ?? 0) | PARAMS);
  for (const [word, count] of index.description) out.set(word, ((out.get(word) ?? 0) | DESCRIPTION) + (count << COUNT_SHIFT));
  return out;
}

/** The best k slots by score, ties by name (locale order, as `rank` has it); k small, so an ordered array does. */
class TopK {
  readonly #k: number;
  readonly #rank: Int32Array;
  readonly #hits: RankedHit[] = [];
  #offered = 0;

  constructor(k: number, rank: Int32Array) {
    this.#k = k;
    this.#rank = rank;
  }

  offer(slot: number, score: number): void {
    this.#offered += 1;
    const hits = this.#hits;
    if (this.#k <= 0) return;
    const rank = this.#rank[slot] as number;
    if (hits.length === this.#k && before(hits[hits.length - 1] as RankedHit, rank, score)) return;
    let lo = 0;
    let hi = hits.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(hits[mid] as RankedHit, rank, score)) lo = mid + 1;
      else hi = mid;
    }
    hits.splice(lo, 0, { slot, score, rank });
    if (hits.length > this.#k) hits.pop();
  }

  /** Whether an entry of (slot, score) would enter the top k now (offer's own test). */
  admits(slot: number, score: number): boolean {
    if (this.#k <= 0) return false;
    const hits = this.#hits;
    return hits.length < this.#k || !before(hits[hits.length - 1] as RankedHit, this.#rank[slot] as number, score);
  }

  /** The kept slots' entries, best first, and how many were offered. */
  result<T>(items: readonly (T | undefined)[]): SearchResult<T> {
    return { hits: this.#hits.map(({ slot, score }) => ({ item: items[slot] as T, score })), matched: this.#offered };
  }
}

interface RankedHit {
  slot: number;
  score: number;
  rank: number;
}

/** Whether `hit` ranks before an entry of (rank, score). */
function before(hit: RankedHit, rank: number, score: number): boolean {
  return hit.score > score || (hit.score === score && hit.rank <= rank);
}
