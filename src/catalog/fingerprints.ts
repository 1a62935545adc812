import type { FingerprintChange, FingerprintRecord, FingerprintStore } from '../store/fingerprints.js';

// The store's interface and the data_dir one live in src/store (beside the PostgreSQL one); re-exported where they were.
export { type FingerprintChange, type FingerprintRecord, type FingerprintStore, SqliteFingerprintStore } from '../store/fingerprints.js';

const key = (server: string, tool: string): string => `${server}\u0000${tool}`;

/** In memory: unit tests, and a catalog before the data_dir database is open. */
export class MemoryFingerprintStore implements FingerprintStore {
  readonly #records = new Map<string, FingerprintRecord>();
  readonly #changes = new Map<string, FingerprintChange[]>();

  get(server: string, tool: string): FingerprintRecord | undefined {
    const found = this.#records.get(key(server, tool));
    return found === undefined ? undefined : { ...found };
  }

  firstSight(record: FingerprintRecord): boolean {
    this.#records.set(key(record.server, record.tool), { ...record });
    return true;
  }

  seen(server: string, tool: string, fingerprint: string): void {
    const record = this.#records.get(key(server, tool));
    if (record !== undefined) record.fingerprint = fingerprint;
  }

  async approve(server: string, tool: string, fingerprint: string): Promise<void> {
    const record = this.#records.get(key(server, tool));
    if (record !== undefined) Object.assign(record, { fingerprint, approved_fingerprint: fingerprint });
  }

  list(server: string): FingerprintRecord[] {
    return [...this.#records.values()].filter((r) => r.server === server).map((r) => ({ ...r }));
  }

  addChange(server: string, change: FingerprintChange): void {
    const list = this.#changes.get(server) ?? [];
    list.push({ ...change });
    this.#changes.set(server, list.slice(-200));
  }

  changes(server: string, limit: number): FingerprintChange[] {
    return (this.#changes.get(server) ?? []).slice(-limit);
  }

  batch<T>(fn: () => T): T {
    return fn();
  }
}
