import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { CoordLogger } from '../store.js';

/** WAL size from which the worker checkpoints (SQLite's own default point: 1,000 pages of 4 KiB). */
export const CHECKPOINT_WAL_BYTES = 4 * 1024 * 1024;
/**
 * wal_autocheckpoint of the store's own connection: a safety net only. Under
 * a steady stream of commits a checkpoint from another connection may never
 * catch up with the last frame, and then the WAL is never restarted; the
 * store's connection checkpoints (on its event loop) once the WAL holds this
 * many pages, most of them already copied by the worker.
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 16_384;
const CHECK_EVERY_MS = 1_000;

// CommonJS, evaluated in the worker; the driver's path comes from here so that it resolves wherever the process runs.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true });
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String(error) });
  }
});
`;

/**
 * Checkpoints the WAL off the event loop. SQLite's automatic checkpoint runs
 * inside the COMMIT that crosses wal_autocheckpoint pages and fsyncs the WAL
 * and the database there: on this store it doubled the mean cost of a commit
 * and stalled the event loop for milliseconds (p99 of a commit 2.9 ms, p99.9
 * 14 ms, against 0.16 and 4 ms without it). Instead, every second, once the
 * WAL file is past CHECKPOINT_WAL_BYTES, a worker thread with its own
 * connection runs a PASSIVE checkpoint, which never blocks the writer.
 * [speed] #30: every second while the store is used, not for ever: the
 * store calls wake() at each operation, and the timer stops at the first
 * second without one (after a last look at the WAL), so an idle gateway
 * does not wake up for it.
 * Durability is unchanged: a commit is in the WAL before it is acknowledged,
 * and checkpoints only move committed pages into the database file.
 */
export class Checkpointer {
  private worker: Worker | undefined;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  /** An operation ran since the last look. */
  private used = false;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly logger: CoordLogger | undefined,
  ) {
    this.arm(); // one look after opening (the migrations wrote)
  }

  /** The store was used: look at the WAL within a second, and every second until a second passes without use. */
  wake(): void {
    this.used = true;
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => this.tick(), CHECK_EVERY_MS).unref();
  }

  /** Whether the next look is scheduled (test/coord/checkpointer.test.ts). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  private tick(): void {
    this.timer = undefined;
    const used = this.used;
    this.used = false;
    if (used) this.arm();
    if (this.busy || walBytes(this.path) < CHECKPOINT_WAL_BYTES) return;
    this.busy = true;
    this.worker ??= this.start();
    this.worker.postMessage('checkpoint');
  }

  private start(): Worker {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: this.path, driver } });
    worker.unref();
    worker.on('message', (result: { ok: boolean; error?: string }) => {
      this.busy = false;
      if (!result.ok) this.logger?.warn({ error: result.error }, 'coord WAL checkpoint failed; SQLite checkpoints on its own past the fallback size');
    });
    worker.on('error', (error) => {
      this.logger?.warn({ error: error.message }, 'coord WAL checkpointer stopped; SQLite checkpoints on its own past the fallback size');
      this.worker = undefined;
      this.busy = false;
    });
    return worker;
  }

  /** Stops the timer and the worker (its connection closes first). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const worker = this.worker;
    this.worker = undefined;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    const late = setTimeout(() => void worker.terminate(), 2_000);
    await exited;
    clearTimeout(late);
  }
}

function walBytes(path: string): number {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
}
