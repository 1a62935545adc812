/*
 * [speed] #30: how busy this process is, from its own CPU, read by one
 * timer for everything that adapts to load (the heap watch in
 * src/cli/heap.ts, the event loop's delay sampling in
 * src/views/loop-delay.ts). An idle gateway used 5–15 ms of CPU a second,
 * most of it in wake-ups: on the machines we measure, one wake-up of a
 * Node timer costs 0.05–0.3 ms of CPU whatever the callback does, so the
 * watch reads one long window a second while everyone is idle and short
 * ones only while a listener asks for them (the heap watch, while load
 * lasts). This file imports node: modules only: bin/stonegate.js loads
 * src/cli/heap.js, and so this, before anything else.
 */

/** Window lengths: short while a listener asks for them, long otherwise. */
export const SHORT_WINDOW_MS = 250;
export const LONG_WINDOW_MS = 1_000;

/** One window's CPU (ms, every thread of the process) and its length (ms); true asks for a short next window. */
export type LoadListener = (cpuMs: number, windowMs: number) => boolean;

/** The process's CPU in windows, for any number of listeners, on one unref'd timer armed only while one listens. */
export class LoadWatch {
  readonly #listeners = new Set<LoadListener>();
  readonly #short = new Set<LoadListener>();
  #timer: NodeJS.Timeout | undefined;
  #last = process.cpuUsage();
  #lastAt = performance.now();

  /** Adds a listener (the first arms the timer); returns its removal. */
  listen(listener: LoadListener): () => void {
    this.#listeners.add(listener);
    if (this.#timer === undefined) {
      this.discount();
      this.#arm();
    }
    return () => {
      this.#listeners.delete(listener);
      this.#short.delete(listener);
      if (this.#listeners.size > 0) return;
      clearTimeout(this.#timer);
      this.#timer = undefined;
    };
  }

  /** The CPU used so far in this window is not counted (the heap watch's own collections are not load). */
  discount(): void {
    this.#last = process.cpuUsage();
    this.#lastAt = performance.now();
  }

  /** Whether the timer is armed (test/load-watch.test.ts). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** The length of the next window: short while a listener asked for it. */
  get windowMs(): number {
    return this.#short.size > 0 ? SHORT_WINDOW_MS : LONG_WINDOW_MS;
  }

  #arm(): void {
    this.#timer = setTimeout(() => this.#tick(), this.windowMs);
    this.#timer.unref();
  }

  #tick(): void {
    const used = process.cpuUsage(this.#last);
    const now = performance.now();
    const windowMs = now - this.#lastAt;
    this.discount();
    const cpuMs = (used.user + used.system) / 1000;
    for (const listener of [...this.#listeners]) {
      if (listener(cpuMs, windowMs)) this.#short.add(listener);
      else this.#short.delete(listener);
    }
    if (this.#listeners.size > 0) this.#arm();
    else this.#timer = undefined;
  }
}

/** The process's one watch. */
export const loadWatch = new LoadWatch();

/** How busy a window is when it counts as load: 10 % of a core. */
export const BUSY_SHARE = 0.1;

/**
 * When load starts: two long windows in a row over BUSY_SHARE. One is not
 * enough: V8's memory reducer runs a full collection (50–110 ms on a slow
 * machine) some 8 s after each full collection, the heap watch's own
 * included, and a single window made the heap watch busy again and again
 * (a busy state and two full collections about every 20 s of an idle
 * gateway). A burst shorter than two windows is not load for the heap.
 */
export class LoadOnset {
  #inRow = 0;

  /** Adds one window; true once two in a row were busy. */
  push(cpuMs: number, windowMs: number): boolean {
    this.#inRow = cpuMs > windowMs * BUSY_SHARE ? this.#inRow + 1 : 0;
    return this.#inRow >= 2;
  }

  /** Starts the count again. */
  reset(): void {
    this.#inRow = 0;
  }
}

/**
 * The quiet time before the process counts as idle again: 40 short windows
 * (10 s) whose CPU, taken together, stays under BUSY_SHARE. Agents' traffic
 * comes in bursts: with a shorter quiet time (2 s was tried) a burst every
 * few seconds paid two full collections and a small young generation at the
 * start of each burst; 10 s keeps such load busy and still hands memory back
 * well inside the 20 s the rss bench checks. Together, not each: an idle
 * gateway's own timers (store checks every 5 s, a collection) make single
 * windows of 30–110 ms on a slow machine, and a rule of 40 quiet windows in
 * a row then never ended the busy state (bench `rss`, 2026-12-07: no memory
 * handed back 20 s after the load).
 */
const IDLE_WINDOWS = 40;

/** The CPU of the last IDLE_WINDOWS short windows: quiet once they have all been seen and their sum is under the threshold. */
export class QuietTime {
  readonly #ms = new Float64Array(IDLE_WINDOWS);
  #next = 0;
  #seen = 0;
  #sum = 0;

  /** Adds one window's CPU (ms); true when the last IDLE_WINDOWS windows, together, were quiet. */
  push(ms: number): boolean {
    this.#sum += ms - (this.#ms[this.#next] as number);
    this.#ms[this.#next] = ms;
    this.#next = (this.#next + 1) % IDLE_WINDOWS;
    this.#seen = Math.min(this.#seen + 1, IDLE_WINDOWS);
    return this.#seen === IDLE_WINDOWS && this.#sum < IDLE_WINDOWS * SHORT_WINDOW_MS * BUSY_SHARE;
  }

  /** Starts the count again (the load came back). */
  reset(): void {
    this.#ms.fill(0);
    this.#next = 0;
    this.#seen = 0;
    this.#sum = 0;
  }
}
