import { setFlagsFromString } from 'node:v8';

/**
 * How `stonegate serve` sizes V8's heap ([server] heap).
 *
 * `balanced` (the default, below) bounds the old generation's growth.
 * `compact` runs V8 with `--optimize-for-size`: the old
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
export type HeapPolicy = 'compact' | 'balanced' | 'fast';

/**
 * `balanced` keeps V8's code and young-generation sizing and caps only how
 * far the old generation grows past what is live at each full collection
 * (×1.3 instead of V8's dynamic factor, up to ×4 under load): the growth
 * that held RSS, without `--optimize-for-size`'s smaller semi-spaces and
 * code that cost the CPU.
 */
const BALANCED_GROWING_PERCENT = 30;

export function applyHeapPolicy(policy: HeapPolicy): void {
  if (policy === 'compact') setFlagsFromString('--optimize-for-size');
  if (policy === 'balanced') setFlagsFromString(`--heap-growing-percent=${BALANCED_GROWING_PERCENT}`);
}
