import { describe, expect, it } from 'vitest';
import { ClientCaps, openFileLimit, streamCap } from '../../src/auth/client-caps.js';
import { GatewayError } from '../../src/errors.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 1048576              files
`;

describe('openFileLimit', () => {
  it('reads the soft limit of /proc/self/limits', () => {
    expect(openFileLimit(() => LIMITS)).toBe(1024);
    expect(openFileLimit(() => LIMITS.replace('1024 ', 'unlimited '))).toBe(1_048_576);
  });

  it('falls back to 1024 when the file cannot be read or parsed', () => {
    expect(
      openFileLimit(() => {
        throw new Error('ENOENT');
      }),
    ).toBe(1024);
    expect(openFileLimit(() => 'nothing here')).toBe(1024);
  });

  it('reads this process limit on Linux', () => {
    if (process.platform === 'linux') expect(openFileLimit()).toBeGreaterThan(0);
  });
});

describe('streamCap', () => {
  it('keeps a configured value', () => expect(streamCap(7, 100, 1024)).toBe(7));
  it('derives 0 from the fd limit: half of it, less one per MCP session, within 16..10000', () => {
    expect(streamCap(0, 100, 1024)).toBe(412);
    expect(streamCap(0, 100, 64)).toBe(16);
    expect(streamCap(0, 100, 1_048_576)).toBe(10_000);
  });
});

describe('ClientCaps', () => {
  const caps = (): ClientCaps => new ClientCaps({ sessions: 4, streams: 4, sessionsPerClient: 2, streamsPerClient: 3, adminReserve: 1 });
  const agent = (name: string): { key: string; admin: boolean } => ({ key: `token ${name}`, admin: false });

  it('refuses a client over its own cap with RATE_LIMITED and Retry-After, and not another client', () => {
    const c = caps();
    c.acquire('session', agent('a'));
    c.acquire('session', agent('a'));
    let error: unknown;
    try {
      c.acquire('session', agent('a'));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('RATE_LIMITED');
    expect((error as GatewayError).retryAfter).toBeGreaterThan(0);
    expect(() => c.acquire('session', agent('b'))).not.toThrow();
  });

  it('keeps the reserve for admin clients, and a freed slot (freed once) can be taken again', () => {
    const c = caps();
    c.acquire('stream', agent('a'));
    c.acquire('stream', agent('a'));
    const release = c.acquire('stream', agent('b'));
    expect(() => c.acquire('stream', agent('c'))).toThrow(/max_streams = 4.*admin_reserve/);
    c.acquire('stream', { key: 'token ops', admin: true });
    expect(() => c.acquire('stream', { key: 'token ops2', admin: true })).toThrow(/max_streams = 4/);
    release();
    release();
    expect(c.held('stream')).toBe(3);
    expect(c.held('stream', 'token b')).toBe(0);
  });

  it('counts sessions and streams apart', () => {
    const c = caps();
    c.acquire('session', agent('a'));
    c.acquire('session', agent('a'));
    expect(() => c.acquire('stream', agent('a'))).not.toThrow();
  });
});
