import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { LoadOnset, loadWatch, QuietTime } from '../load-watch.js';

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
 * sizing keeps RSS within ~1.2× idle, for more frequent (smaller)
 * collections: +34–50 % gateway CPU per call in the `floor` bench
 * (bench/RESULTS.md). `fast` keeps V8's default sizing.
 *
 * V8 reads these flags at each collection and each tier-up, so setting them
 * while the process runs takes effect; the young generation's growth and the
 * optimizing compilers, though, leave their memory behind once used. Hence
 * the start-up sizing below, set by bin/stonegate.js before anything else is
 * imported.
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

/**
 * The young generation of a start-up or an idle gateway: it stays at its
 * initial 1 MB (V8 grows it to 16 MB semi-spaces while modules load, ~14 MB
 * of RSS an idle gateway never used again), and full collections reduce
 * memory. The growth factor is V8's default 2 again while serving load.
 */
const IDLE_YOUNG = ['--optimize-for-size', '--semi-space-growth-factor=1'];
/** What serving load runs with, by policy ([server] heap): V8's young generation unless compact. */
const BUSY_YOUNG: Record<HeapPolicy, string[]> = {
  compact: ['--semi-space-growth-factor=2'],
  balanced: ['--no-optimize-for-size', '--semi-space-growth-factor=2'],
  fast: ['--no-optimize-for-size', '--semi-space-growth-factor=2'],
};
/**
 * No optimizing or baseline compiler while the gateway starts: what runs
 * then (config parsing, zod schemas built at import, migrations) runs once,
 * and TurboFan's code and compile zones stayed resident (~4 MB idle RSS).
 */
const STARTUP_JIT = ['--no-opt', '--no-sparkplug'];
const SERVING_JIT = ['--opt', '--sparkplug'];

function setFlags(flags: readonly string[]): void {
  for (const flag of flags) setFlagsFromString(flag);
}

/**
 * The longest the start-up sizing lasts in `serve`: a backend that keeps
 * failing and restarting (an HTTP server that is down, a command in a crash
 * loop with backoff) holds the start open, and the gateway must not serve
 * its calls without the optimizing compilers meanwhile.
 */
export const STARTUP_HEAP_MAX_MS = 10_000;

/** Resolves when `ready` does or after STARTUP_HEAP_MAX_MS, whichever is first (an unref'd timer). */
export function startupEnds(ready: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, STARTUP_HEAP_MAX_MS);
    timer.unref();
    void ready.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** bin/stonegate.js, before it imports the CLI: the start-up sizing above. */
export function applyStartupHeap(): void {
  setFlags([...IDLE_YOUNG, ...STARTUP_JIT]);
}

/** Every command but `serve` leaves the start-up sizing at once: V8's defaults. */
export function leaveStartupHeap(): void {
  setFlags([...BUSY_YOUNG.fast, ...SERVING_JIT]);
}

/** `serve`, before the gateway allocates its state: the policy's old-generation sizing. */
export function applyHeapPolicy(policy: HeapPolicy): void {
  if (policy === 'compact') setFlagsFromString('--optimize-for-size');
  if (policy === 'balanced') setFlagsFromString(`--heap-growing-percent=${BALANCED_GROWING_PERCENT}`);
}

/** What the idle watch reports (the `heap` log lines). */
export interface HeapEvent {
  state: 'busy' | 'idle';
  /** V8's heap total (MB) when the load stopped (idle only); V8's memory reducer hands it back in the seconds after. */
  heapTotalMb?: number;
}

/**
 * `balanced` under load: the young generation stops growing at two 8 MB
 * semi-spaces instead of V8's 16 MB (its maximum is fixed when the process
 * starts; its growth is read at each scavenge). With V8's 16 MB, peak RSS
 * under 60,000 calls was 1.42–1.53× the idle gateway's; with 8 MB
 * 1.26–1.29× (bench `rss`, bench/RESULTS.md).
 */
const BALANCED_YOUNG_BYTES = 16 * 2 ** 20;

/** The young generation's size (both semi-spaces), as V8 reports it. */
function youngBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * `serve`, once every backend has started: the optimizing compilers come
 * back, and (unless `fast`, which is V8's defaults from here on) the
 * process's load watch (src/load-watch.ts: a 1 s window while idle, load
 * from two busy ones in a row; 250 ms windows while busy) gives load the policy's young generation and
 * an idle gateway its small one back: 10 s after the load stops the idle
 * sizing returns, and V8's memory reducer, whose collections follow a drop
 * in allocation, hands the grown young generation and old-space garbage
 * back (bench `rss`: RSS 20 s after the load within 1.05× idle).
 *
 * [speed] No full collection is forced there. Until session 10 the watch
 * ran two (`gc()` through a context made with `--expose-gc`): RSS came back
 * no sooner, and the first 2,000 calls of the next burst cost 1.4–1.6× the
 * CPU per call of the calls after them, against 1.02× without (bench
 * `burst`); one forced collection was enough to cost it, V8's own were not.
 */
export function serveHeap(policy: HeapPolicy, report: (event: HeapEvent) => void): void {
  setFlags(SERVING_JIT);
  if (policy === 'fast') return setFlags(BUSY_YOUNG.fast);
  let busy = false;
  let capped = false;
  const onset = new LoadOnset();
  const quiet = new QuietTime();
  // [speed] The process's one load watch: long windows while idle (two busy ones in a row start the load), short ones while busy.
  loadWatch.listen((ms, windowMs) => {
    if (!busy) {
      if (!onset.push(ms, windowMs)) return false;
      busy = true;
      quiet.reset();
      setFlags(BUSY_YOUNG[policy]);
      report({ state: 'busy' });
      return true;
    }
    const calm = quiet.push(ms);
    if (!capped && policy === 'balanced' && youngBytes() >= BALANCED_YOUNG_BYTES) {
      capped = true;
      setFlagsFromString('--semi-space-growth-factor=1');
    }
    if (!calm) return true;
    busy = false;
    capped = false;
    onset.reset();
    setFlags(IDLE_YOUNG);
    report({ state: 'idle', heapTotalMb: mb(process.memoryUsage().heapTotal) });
    return false;
  });
}

const mb = (bytes: number): number => Math.round(bytes / 2 ** 17) / 8;
