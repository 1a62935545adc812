import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { diffBackends, planConfig } from '../../src/config/reload-diff.js';

// Issue #28: what a reload of the file changes, before anything is applied.

const config = (input: Record<string, unknown>) => buildConfig(input, '/tmp/stonegate.toml', '/tmp');
const backend = (name: string, extra: Record<string, unknown> = {}) => ({ name, command: 'node', args: ['s.js'], ...extra });

describe('reload diff', () => {
  it('sorts the file backends by name into added, removed, restarted, updated in place and unchanged', () => {
    const before = config({ backends: [backend('same'), backend('cmd'), backend('gone'), backend('timeout'), backend('breaker'), backend('pool')] });
    const after = config({
      backends: [
        backend('same'),
        backend('cmd', { args: ['other.js'] }),
        backend('timeout', { timeout: 1234 }),
        backend('breaker', { circuit_breaker: { failure_threshold: 9 } }),
        backend('pool', { pool: { max: 3 } }),
        backend('new'),
      ],
    });
    const diff = diffBackends(before.backends, after.backends);
    expect(diff.added.map((b) => b.name)).toEqual(['new']);
    expect(diff.removed).toEqual(['gone']);
    expect(diff.restarted.map((b) => b.name)).toEqual(['cmd', 'pool']);
    expect(diff.updated.map((b) => b.name)).toEqual(['timeout', 'breaker']);
    expect(diff.unchanged).toEqual(['same']);
  });

  it('keeps restart-only sections as they run and names their changed keys; request_timeout reaches the backends live', () => {
    const before = config({ server: { port: 3393 }, gateway: { request_timeout: 1000 }, backends: [backend('a')] });
    const after = config({
      server: { port: 4000, host: '127.0.0.1' },
      gateway: { request_timeout: 2000, expose: 'meta' },
      logging: { level: 'debug', format: 'pretty' },
      backends: [backend('a')],
    });
    const plan = planConfig(before, after);
    expect(plan.needsRestart).toEqual(['server.port', 'gateway.expose', 'logging.format']);
    expect(plan.config.logging).toMatchObject({ level: 'debug', format: 'json' });
    expect(plan.config.server.port).toBe(3393);
    expect(plan.config.gateway.expose).toBe('all');
    expect(plan.config.gateway.request_timeout).toBe(2000);
    expect(diffBackends(before.backends, plan.config.backends).updated.map((b) => b.name)).toEqual(['a']);
  });

  it('applies [auth] tokens but not a changed [auth.oauth]', () => {
    const before = config({});
    const after = config({ auth: { tokens: [{ name: 'x', role: 'admin', hash: `sha256:${'0'.repeat(64)}` }], oauth: { issuer: 'https://idp.example' } } });
    const plan = planConfig(before, after);
    expect(plan.needsRestart).toEqual(['auth.oauth']);
    expect(plan.config.auth.tokens.map((t) => t.name)).toEqual(['x']);
    expect(plan.config.auth.oauth.issuer).toBe('');
  });
});
