/**
 * "Did you mean" for a mistyped key: the closest known name by edit
 * distance (optimal string alignment, so a swap of two letters counts one),
 * case folded, accepted only when the typo is small for the word's length.
 */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const typed = word.toLowerCase();
  // One edit per three letters, at least one: 'prot' → 'port', not 'tls' → 'url'.
  const allowed = Math.max(1, Math.floor(typed.length / 3));
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const candidate of candidates) {
    const distance = editDistance(typed, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** ` (did you mean 'x'?)` for the nearest candidate, or '' when none is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const found = nearest(word, candidates);
  return found === undefined ? '' : ` (did you mean '${found}'?)`;
}

function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  // Rows of the dynamic-programming table: two back for transpositions.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] as number) + 1);
      current.push(d);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The sentence for keys an input does not take, the same on every surface
 * (REST bodies, gate tools): each key with its nearest known key, then the
 * keys `what` takes.
 */
export function unknownKeysSentence(keys: readonly string[], known: readonly string[], what: string): string {
  const named = keys.map((key) => `'${key}'${didYouMean(key, known)}`).join(', ');
  return `Unknown key${keys.length > 1 ? 's' : ''} ${named} in ${what}; it takes ${known.join(', ')}`;
}
