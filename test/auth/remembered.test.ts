import { describe, expect, it } from 'vitest';
import { RememberedIdentities } from '../../src/auth/remembered.js';
import type { Identity } from '../../src/auth/tokens.js';

// Issue #26: the identity the calls of an OAuth name get when it holds several tokens at once.

const identity = (role: 'agent' | 'admin', servers?: string[]): Identity => ({
  name: 'oauth:ann',
  role,
  servers: servers === undefined ? undefined : new Set(servers),
  rateLimit: 0,
  burst: 1,
  maxConcurrent: 0,
});

describe('remembered OAuth identities', () => {
  const later = Date.now() + 60_000;

  it('gives the calls of a name the least of its live tokens', () => {
    const seen = new RememberedIdentities();
    seen.remember(identity('admin'), later);
    expect(seen.get('oauth:ann')?.role).toBe('admin');
    seen.remember(identity('agent', ['demo', 'coord']), later);
    seen.remember(identity('admin'), later); // the admin token again does not lift the agent one
    expect(seen.get('oauth:ann')).toMatchObject({ role: 'agent', servers: new Set(['demo', 'coord']) });
    seen.remember(identity('agent', ['coord', 'memory']), later);
    expect([...(seen.get('oauth:ann')?.servers ?? [])]).toEqual(['coord']);
    expect(seen.get('oauth:bob')).toBeUndefined();
  });

  it('stops counting a token once it expires, and keeps the last one when all have', () => {
    const seen = new RememberedIdentities();
    seen.remember(identity('agent'), Date.now() - 1);
    seen.remember(identity('admin'), later);
    expect(seen.get('oauth:ann')?.role).toBe('admin');
    const lone = new RememberedIdentities();
    lone.remember(identity('agent', ['demo']), Date.now() - 1);
    expect(lone.get('oauth:ann')).toMatchObject({ role: 'agent', servers: new Set(['demo']) });
  });
});
