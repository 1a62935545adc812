import { expect } from 'vitest';
import { CoordError, type CoordErrorCode } from '../../backends/coord/errors.js';
import type { CoordOptionsInput } from '../../backends/coord/options.js';
import type { CoordStore, StoreRuntime } from '../../backends/coord/store.js';

/** Opens a fresh, empty store with the given options (and, optionally, a test clock). */
export type MakeStore = (options?: CoordOptionsInput, runtime?: StoreRuntime) => Promise<CoordStore>;

/** A clock tests move by hand: stale detection and leases without sleeping. */
export class TestClock {
  constructor(public ms = Date.parse('2026-06-10T04:00:00Z')) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** Awaits a promise that must fail with a CoordError of `code`; returns the error. */
export async function expectCode(promise: Promise<unknown>, code: CoordErrorCode): Promise<CoordError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CoordError);
    const refusal = error as CoordError;
    expect(refusal.code, refusal.message).toBe(code);
    return refusal;
  }
  throw new Error(`expected a ${code} refusal, but the call succeeded`);
}

/** Tracks stores a test opens and closes them afterwards. */
export class StoreSet {
  private readonly open = new Set<CoordStore>();
  constructor(private readonly make: MakeStore) {}

  async store(options?: CoordOptionsInput, runtime?: StoreRuntime): Promise<CoordStore> {
    const store = await this.make(options, runtime);
    this.open.add(store);
    return store;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open].map((s) => s.close()));
    this.open.clear();
  }
}

/** Registers agents `ids` with role "worker" in `channel`. */
export async function registerAll(store: CoordStore, ids: string[], extra: { channel?: string; capabilities?: string[]; group?: string } = {}): Promise<void> {
  for (const id of ids) await store.registerAgent({ agent_id: id, role: 'worker', ...extra });
}

/** Writes a line to stderr (measurements that a reader of the test log wants to see). */
export function report(line: string): void {
  process.stderr.write(`${line}\n`);
}
