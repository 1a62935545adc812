import { randomBytes } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

/*
 * [otel] Trace and span ids for the SDK (its IdGenerator hook), hex-encoded
 * from a pool of random bytes (crypto.randomBytes, 4 KiB at a time): one
 * native hex encoding per id. The SDK's own generator draws two to four
 * Math.random() numbers and writes them into a Buffer before encoding it.
 * Each id is its own flat string (not a slice of a longer one, which the
 * exporter's hex-to-bytes and the traceparent would read more slowly).
 */

const POOL_BYTES = 4096;
const ZERO_SPAN = '0'.repeat(16);
const ZERO_TRACE = '0'.repeat(32);

export class PooledIds implements IdGenerator {
  #pool = randomBytes(POOL_BYTES);
  #at = 0;

  generateTraceId(): string {
    const id = this.#take(16);
    // W3C: an all-zero id is invalid (one chance in 2^128).
    return id === ZERO_TRACE ? this.generateTraceId() : id;
  }

  generateSpanId(): string {
    const id = this.#take(8);
    return id === ZERO_SPAN ? this.generateSpanId() : id;
  }

  #take(bytes: number): string {
    if (this.#at + bytes > POOL_BYTES) {
      this.#pool = randomBytes(POOL_BYTES);
      this.#at = 0;
    }
    const id = this.#pool.toString('hex', this.#at, this.#at + bytes);
    this.#at += bytes;
    return id;
  }
}
