/*
 * Keyword ranking for gate_discover and GET /discover. Each tool is
 * tokenized once when it enters the catalog; a query is a scan over those
 * token sets, which stays well under a millisecond per thousand tools.
 */

const STOPWORDS = new Set(['a', 'an', 'and', 'are', 'by', 'for', 'from', 'in', 'is', 'it', 'of', 'on', 'or', 'the', 'this', 'to', 'with']);

/** A word's base form: lowercase, plural cut (files → file, queries → query). */
function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

/** Splits snake_case, kebab-case, camelCase and prose into stemmed lowercase words. */
export function tokenize(text: string): string[] {
  const words = text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  const out: string[] = [];
  for (const w of words) {
    if (w.length === 0 || STOPWORDS.has(w)) continue;
    out.push(stem(w));
  }
  return out;
}

/** What the ranking needs of one tool, computed once. */
export interface SearchIndex {
  name: ReadonlySet<string>;
  params: ReadonlySet<string>;
  /** Description words with how often each occurs. */
  description: ReadonlyMap<string, number>;
  /** The exposed name in lowercase, for whole-query substring matches. */
  text: string;
  /** The description says the tool is deprecated: it ranks below its replacement. */
  deprecated: boolean;
}

export function buildIndex(tool: { name: string; exposed: string; description?: string; inputSchema?: unknown }): SearchIndex {
  const properties = (tool.inputSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  const params = properties !== undefined && typeof properties === 'object' ? Object.keys(properties).join(' ') : '';
  return {
    name: new Set(tokenize(tool.name)),
    params: new Set(tokenize(params)),
    description: countWords(tokenize(tool.description ?? '')),
    text: tool.exposed.toLowerCase(),
    deprecated: /\bdeprecated\b/i.test(tool.description ?? ''),
  };
}

function countWords(words: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  return counts;
}

function fieldScore(tokens: ReadonlySet<string> | ReadonlyMap<string, number>, q: string, exact: number, partial: number): number {
  if (tokens.has(q)) return exact;
  if (q.length < 3) return 0;
  for (const t of tokens.keys()) {
    if (t.length >= 3 && (t.startsWith(q) || q.startsWith(t))) return partial;
  }
  return 0;
}

/**
 * Scores one tool against query words. A word found in the name weighs
 * most, then parameters, then the description; tools that match more of the
 * query words rank above tools that match one word strongly.
 */
export function score(index: SearchIndex, query: readonly string[], rawQuery: string): number {
  if (query.length === 0) return 1;
  let total = 0;
  let matched = 0;
  for (const q of query) {
    // A description that uses the word again is a little more about it.
    const repeats = Math.min((index.description.get(q) ?? 1) - 1, 3);
    const s = Math.max(fieldScore(index.name, q, 10, 6), fieldScore(index.params, q, 3, 2), fieldScore(index.description, q, 2, 1)) + repeats * 0.5;
    if (s > 0) matched += 1;
    total += s;
  }
  if (total === 0) return 0;
  const compact = rawQuery.toLowerCase().replace(/[^a-z0-9]+/g, '_');
  if (compact.length >= 3 && index.text.includes(compact)) total += 5;
  const ranked = total * (1 + matched / query.length);
  return index.deprecated ? ranked / 2 : ranked;
}
