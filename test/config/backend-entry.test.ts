import { describe, expect, it } from 'vitest';
import { ConfigError, parseBackendEntry } from '../../src/config/load.js';
import { ConfigSchema } from '../../src/config/schema.js';

const raw = ConfigSchema.parse({ gateway: { request_timeout: 2_000 }, pool: { max: 4 }, circuit_breaker: { reset_timeout: 9 } });

function parseError(input: unknown): string {
  try {
    parseBackendEntry(input, raw, '/etc/stonegate');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected parseBackendEntry to throw');
}

describe('parseBackendEntry', () => {
  it('validates a runtime entry and resolves it against the running config', () => {
    const backend = parseBackendEntry({ name: 'web', command: 'web-mcp', cwd: 'srv', pool: { max_concurrency: 2 } }, raw, '/etc/stonegate');
    expect(backend).toMatchObject({ name: 'web', transport: 'stdio', command: 'web-mcp', cwd: '/etc/stonegate/srv', timeout: 2_000, origin: 'runtime' });
    expect(backend.pool).toMatchObject({ max: 4, max_concurrency: 2 });
    expect(backend.breaker.reset_timeout).toBe(9);
    expect(Object.isFrozen(backend)).toBe(true);
  });

  it('accepts an http backend with a url and headers', () => {
    const backend = parseBackendEntry(
      { name: 'remote', transport: 'http', url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer x' } },
      raw,
      '/',
    );
    expect(backend.url).toBe('https://mcp.example.com/mcp');
    expect(backend.headers).toEqual({ Authorization: 'Bearer x' });
  });

  it('names the problem with the key path', () => {
    expect(parseError({ name: 'web', comand: 'x' })).toContain("unknown key 'comand'");
    expect(parseError({ name: 'web' })).toContain("command: a stdio backend needs 'command'");
    expect(parseError({ name: 'web', transport: 'http' })).toContain("url: an http backend needs 'url'");
    expect(parseError({ name: 'bad name', command: 'x' })).toContain('name: ');
    expect(parseError({ name: 'web', transport: 'http', url: 'ftp://example.com' })).toContain('url: ');
    expect(parseError({ name: 'web', command: 'x', pool: { max: 0 } })).toContain('pool.max: ');
  });
});
