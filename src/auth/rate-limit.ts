import { GatewayError } from '../errors.js';
import type { Identity } from './tokens.js';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Per-token request rate (a token bucket: `rate_limit` per second, up to
 * `burst` at once) and per-token tool calls in flight (`max_concurrent`).
 * Both refuse with RATE_LIMITED before the router sees anything, so a
 * refused request is never a backend failure.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #inflight = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Takes one request from the identity's bucket; throws RATE_LIMITED with the seconds until one is free. */
  take(identity: Identity): void {
    if (identity.rateLimit <= 0) return;
    const now = this.#now();
    const bucket = this.#buckets.get(identity.name) ?? { tokens: identity.burst, at: now };
    bucket.tokens = Math.min(identity.burst, bucket.tokens + ((now - bucket.at) / 1000) * identity.rateLimit);
    bucket.at = now;
    this.#buckets.set(identity.name, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / identity.rateLimit));
    throw new GatewayError(
      'RATE_LIMITED',
      `Token '${identity.name}' is over its rate limit of ${identity.rateLimit} requests per second (burst ${identity.burst}); retry after ${retryAfter} s ([auth] rate_limit)`,
      { retryAfter },
    );
  }

  /** Counts a call in flight for the identity; the returned function ends it. Throws RATE_LIMITED at max_concurrent. */
  enter(identity: Identity): () => void {
    if (identity.maxConcurrent <= 0) return () => undefined;
    const current = this.#inflight.get(identity.name) ?? 0;
    if (current >= identity.maxConcurrent) {
      throw new GatewayError(
        'RATE_LIMITED',
        `Token '${identity.name}' has ${current} calls in flight, its limit ([auth] max_concurrent = ${identity.maxConcurrent}); retry when one ends`,
        { retryAfter: 1 },
      );
    }
    this.#inflight.set(identity.name, current + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.#inflight.get(identity.name) ?? 1) - 1;
      if (left <= 0) this.#inflight.delete(identity.name);
      else this.#inflight.set(identity.name, left);
    };
  }
}
