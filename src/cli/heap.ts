import { setFlagsFromString } from 'node:v8';

/**
 * How `stonegate serve` sizes V8's heap ([server] heap).
 *
 * `compact` (the default) runs V8 with `--optimize-for-size`: the old
 * generation grows by a small factor over what is live and young objects
 * get small semi-spaces. A gateway's live heap is flat under load (~30 MB),
 * but with V8's default sizing each call's short-lived objects that outlive
 * two scavenges (16 calls in flight) piled up as old-space garbage until the
 * next full collection: 60,000 calls on 16 keep-alive clients took RSS from
 * ~130 MB to 200–225 MB, and nothing gave it back (bench `rss`). Compact
 * sizing keeps RSS within ~1.2× idle and lowers idle RSS by ~25 MB, for
 * more frequent (smaller) collections: +34–50 % gateway CPU per call in the
 * `floor` bench (bench/RESULTS.md). `fast` keeps V8's default sizing.
 *
 * The flag is read by V8's heap controller at every collection, so setting
 * it once the process runs takes effect (set before the gateway allocates
 * its state, so the first collections already follow it).
 */
export type HeapPolicy = 'compact' | 'fast';

export function applyHeapPolicy(policy: HeapPolicy): void {
  if (policy === 'compact') setFlagsFromString('--optimize-for-size');
}
