import { randomBytes } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

/*
 * [otel] Trace and span ids for the SDK (its IdGenerator hook), cut from a
 * pool of random bytes hex-encoded 4 KiB at a time. The SDK's own
 * generator makes each id by itself (two to four Math.random() draws, a
 * Buffer write and a hex encoding per id); a sampled call asks for three
 * or four ids, so this was a tenth of tracing's own CPU at sample_ratio 1.0
 * (bench/RESULTS.md, telemetry). The bytes come from crypto.randomBytes.
 */

const POOL_BYTES = 4096;
const ZERO_SPAN = '0'.repeat(16);
const ZERO_TRACE = '0'.repeat(32);

export class PooledIds implements IdGenerator {
  #hex = '';
  #at = 0;

  generateTraceId(): string {
    const id = this.#take(32);
    // W3C: an all-zero id is invalid (one chance in 2^128).
    return id === ZERO_TRACE ? this.generateTraceId() : id;
  }

  generateSpanId(): string {
    const id = this.#take(16);
    return id === ZERO_SPAN ? this.generateSpanId() : id;
  }

  #take(chars: number): string {
    if (this.#at + chars > this.#hex.length) {
      this.#hex = randomBytes(POOL_BYTES).toString('hex');
      this.#at = 0;
    }
    const id = this.#hex.slice(this.#at, this.#at + chars);
    this.#at += chars;
    return id;
  }
}
