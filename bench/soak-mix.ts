/*
 * What the soak's calls do: a seeded generator, so that a run can be
 * repeated, and the weighted mix of good calls and faults.
 */

/** mulberry32: a small seeded generator, so a run can be repeated. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Pick {
  weight: number;
  label: string;
  server: string;
  tool: string;
  args: Record<string, unknown>;
}

// What a call does, by weight. Faults: crash (the crashy process dies),
// hang (times out at 200 ms and is cancelled), flaky (every 5th is a
// JSON-RPC error), garbage (junk around every answer).
const MIX: Pick[] = [
  { weight: 50, label: 'demo echo', server: 'demo', tool: 'echo', args: { text: 'soak' } },
  { weight: 2, label: 'demo sleep', server: 'demo', tool: 'sleep', args: { ms: 30 } },
  { weight: 10, label: 'crashy echo (read-only)', server: 'crashy', tool: 'echo', args: { text: 'soak' } },
  { weight: 0.4, label: 'crashy crash', server: 'crashy', tool: 'crash', args: { code: 1 } },
  { weight: 4, label: 'hang hang', server: 'hang', tool: 'hang', args: {} },
  { weight: 10, label: 'hang ok', server: 'hang', tool: 'ok', args: {} },
  { weight: 12, label: 'flaky flaky', server: 'flaky', tool: 'flaky', args: {} },
  { weight: 8, label: 'garbage garbage', server: 'garbage', tool: 'garbage', args: { n: 3 } },
];
const TOTAL_WEIGHT = MIX.reduce((sum, p) => sum + p.weight, 0);

export function pick(next: () => number): Pick {
  let r = next() * TOTAL_WEIGHT;
  for (const p of MIX) {
    r -= p.weight;
    if (r <= 0) return p;
  }
  return MIX[0] as Pick;
}
