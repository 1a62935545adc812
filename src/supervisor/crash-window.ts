import type { SupervisorSettings } from '../config/schema.js';

/**
 * A backend's recent failures, for crash-loop detection and restart
 * backoff: failures older than crash_loop_window seconds are forgotten, and
 * crash_loop_restarts of them inside the window mean "stop trying".
 */
export class CrashWindow {
  #at: number[] = [];

  constructor(private readonly settings: Readonly<SupervisorSettings>) {}

  /** Failures in the window. */
  get count(): number {
    return this.#at.length;
  }

  /** Counts a failure; false once crash_loop_restarts failures have happened in the window. */
  record(now = Date.now()): boolean {
    const window = this.settings.crash_loop_window * 1000;
    this.#at = this.#at.filter((t) => now - t < window);
    this.#at.push(now);
    return this.#at.length < this.settings.crash_loop_restarts;
  }

  /** Forgets every failure (a fresh start). */
  clear(): void {
    this.#at = [];
  }

  /** The end of a sentence saying why restarting stopped. */
  gaveUp(): string {
    return `gave up after ${this.#at.length} failures in ${this.settings.crash_loop_window} s`;
  }

  /** Exponential backoff with jitter in [½, 1] of the step, so crashed siblings do not restart in lockstep. */
  backoff(attempt: number): number {
    const { restart_backoff_min: min, restart_backoff_max: max } = this.settings;
    const step = Math.min(max, min * 2 ** (attempt - 1));
    return Math.round(step * (0.5 + Math.random() * 0.5));
  }
}
