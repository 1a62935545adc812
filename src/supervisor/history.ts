import type { EventEmitter } from 'node:events';
import type { BackendState } from './backend.js';

/** What one history entry records: a state change, a crash, a circuit transition, an add or a removal. */
export type HistoryKind = 'state' | 'crash' | 'circuit' | 'added' | 'removed';

/** One entry of a backend's history (GET /server/history). */
export interface HistoryEvent {
  /** ISO time. */
  at: string;
  kind: HistoryKind;
  from: string | null;
  to: string | null;
  /** The backend's last_error for a crash or a failed start; null otherwise. */
  error: string | null;
}

/** What the history listens to: the supervisor's events, the router's circuit transitions, a backend's last error. */
export interface HistorySources {
  /** Emits `state` (name, to, from), `added` (name), `removed` (name). */
  supervisor: Pick<EventEmitter, 'on'>;
  onCircuit(listener: (server: string, to: string) => void): void;
  lastError(name: string): string | null;
}

/** Entries kept per backend: the oldest go first. */
export const HISTORY_SIZE = 200;

/** A state left for one of these, from a serving state, is a crash (or a health-check restart). */
const SERVING: ReadonlySet<string> = new Set<BackendState>(['running', 'degraded']);
const DOWN: ReadonlySet<string> = new Set<BackendState>(['restarting', 'failed', 'needs_auth']);

/**
 * A bounded ring of each backend's lifecycle, kept in memory for the
 * dashboard's backend detail: starts, crashes, restarts, stops, circuit
 * transitions, with their times. A crash is a serving backend that went to
 * restarting, failed or needs_auth; it carries the last_error of that
 * moment. A removed backend's history goes with it (no growth with names).
 * Crashes of one process of a backend whose other processes still serve
 * change no state and are not in it (last_error shows the latest).
 */
export class BackendHistory {
  readonly #rings = new Map<string, HistoryEvent[]>();
  readonly #circuits = new Map<string, string>();
  readonly #size: number;

  constructor(sources: HistorySources, size = HISTORY_SIZE) {
    this.#size = size;
    sources.supervisor.on('added', (name: string) => this.#push(name, 'added', null, null, null));
    sources.supervisor.on('removed', (name: string) => {
      this.#rings.delete(name);
      this.#circuits.delete(name);
    });
    sources.supervisor.on('state', (name: string, to: string, from: string) => {
      const crash = SERVING.has(from) && DOWN.has(to);
      const failedStart = DOWN.has(to) && !crash;
      this.#push(name, crash ? 'crash' : 'state', from, to, crash || failedStart ? sources.lastError(name) : null);
    });
    sources.onCircuit((name, to) => {
      if (!this.#rings.has(name)) return; // a removed backend's breaker
      this.#push(name, 'circuit', this.#circuits.get(name) ?? 'closed', to, null);
      this.#circuits.set(name, to);
    });
  }

  /** The backend's entries, oldest first (at most HISTORY_SIZE). */
  of(name: string): readonly HistoryEvent[] {
    return this.#rings.get(name) ?? [];
  }

  #push(name: string, kind: HistoryKind, from: string | null, to: string | null, error: string | null): void {
    let ring = this.#rings.get(name);
    if (ring === undefined) {
      ring = [];
      this.#rings.set(name, ring);
    }
    ring.push({ at: new Date().toISOString(), kind, from, to, error });
    if (ring.length > this.#size) ring.splice(0, ring.length - this.#size);
  }
}
