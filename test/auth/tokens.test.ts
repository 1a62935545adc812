import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/auth/rate-limit.js';
import { bearerOf, mayUse, TokenTable, tokenHash } from '../../src/auth/tokens.js';
import { AuthSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';

const auth = AuthSchema.parse({
  rate_limit: 2,
  tokens: [
    { name: 'ops', role: 'admin', token: 'ops-secret-token-0001' },
    { name: 'ci', hash: tokenHash('ci-secret-token-00002'), servers: ['demo'], max_concurrent: 1 },
    { name: 'bulk', token: 'bulk-secret-token-0003', rate_limit: 0 },
  ],
});

describe('TokenTable', () => {
  const table = new TokenTable(auth);

  it('finds the identity of a token given in plain form (from the environment) or by its sha256', () => {
    expect(table.enabled).toBe(true);
    expect(table.authenticate('Bearer ops-secret-token-0001')).toMatchObject({ name: 'ops', role: 'admin', servers: undefined });
    const ci = table.authenticate('bearer   ci-secret-token-00002');
    expect(ci).toMatchObject({ name: 'ci', role: 'agent', maxConcurrent: 1 });
    expect([...(ci?.servers ?? [])]).toEqual(['demo']);
  });

  it('refuses anything else: no header, another scheme, a wrong or partial token, extra words', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic b3BzOng=',
      'ops-secret-token-0001',
      'Bearer ops-secret-token-000',
      'Bearer ops-secret-token-0001 x',
      'Bearer ops-secret-token-00011',
    ]) {
      expect(table.authenticate(header), String(header)).toBeUndefined();
    }
  });

  it('looks identities up by name for the call guard, and tells whether one may use a backend', () => {
    expect(table.byName('ci')?.name).toBe('ci');
    expect(table.byName('claude-code')).toBeUndefined();
    expect(table.byName(undefined)).toBeUndefined();
    expect(mayUse(table.byName('ci'), 'demo')).toBe(true);
    expect(mayUse(table.byName('ci'), 'other')).toBe(false);
    expect(mayUse(table.byName('ops'), 'other')).toBe(true);
    expect(mayUse(undefined, 'other')).toBe(true);
  });

  it('takes rate_limit, burst and max_concurrent from [auth] unless the token overrides them', () => {
    expect(table.byName('ops')).toMatchObject({ rateLimit: 2, burst: 4, maxConcurrent: 0 });
    expect(table.byName('bulk')).toMatchObject({ rateLimit: 0 });
  });

  it('is off without tokens', () => {
    const off = new TokenTable(AuthSchema.parse({}));
    expect(off.enabled).toBe(false);
    expect(off.authenticate('Bearer anything-at-all-here')).toBeUndefined();
  });

  it('parses Bearer headers strictly', () => {
    expect(bearerOf('Bearer abc')).toBe('abc');
    expect(bearerOf('BEARER\tabc ')).toBe('abc');
    expect(bearerOf('Bearer a b')).toBeUndefined();
    expect(bearerOf('Token abc')).toBeUndefined();
  });
});

describe('RateLimiter', () => {
  const identity = { name: 'a', role: 'agent' as const, servers: undefined, rateLimit: 2, burst: 3, maxConcurrent: 2 };

  it('lets a burst through, then refuses with the seconds until the bucket refills', () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    for (let i = 0; i < 3; i += 1) limiter.take(identity);
    let refused: unknown;
    try {
      limiter.take(identity);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 1 });
    now += 500; // one request refilled at 2 per second
    limiter.take(identity);
    expect(() => limiter.take(identity)).toThrow(/rate limit of 2 requests per second/);
    expect(() => limiter.take({ ...identity, name: 'b' })).not.toThrow();
  });

  it('never limits a token with rate_limit 0', () => {
    const limiter = new RateLimiter(() => 0);
    for (let i = 0; i < 1000; i += 1) limiter.take({ ...identity, rateLimit: 0 });
  });

  it('counts calls in flight per token up to max_concurrent; a release is idempotent', () => {
    const limiter = new RateLimiter();
    const first = limiter.enter(identity);
    const second = limiter.enter(identity);
    expect(() => limiter.enter(identity)).toThrow(expect.objectContaining({ code: 'RATE_LIMITED', retryAfter: 1 }));
    first();
    first();
    const third = limiter.enter(identity);
    expect(() => limiter.enter(identity)).toThrow(/max_concurrent = 2/);
    second();
    third();
    limiter.enter({ ...identity, maxConcurrent: 0 });
  });
});
