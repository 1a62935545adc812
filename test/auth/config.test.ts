import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../kit/loopback.js';
import { Security } from '../../src/auth/security.js';
import { tokenHash } from '../../src/auth/tokens.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { buildConfig, loadConfig } from '../../src/config/load.js';
import { redactedConfig } from '../../src/config/redact.js';
import { silentLogger } from '../../src/log.js';

const dirs: string[] = [];
function file(toml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-auth-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'stonegate.toml'), toml);
  return join(dir, 'stonegate.toml');
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('[auth] in stonegate.toml', () => {
  it('refuses a token written in the file, naming the key and both ways to give it', () => {
    const path = file('[[auth.tokens]]\nname = "ci"\ntoken = "plain-text-token-123456"\n');
    expect(() => loadConfig({ file: path, explicit: true, env: {} })).toThrow(
      /auth\.tokens\[0\]\.token: a token must not be written in the file.*\$\{AGENT_TOKEN\}.*sha256/,
    );
  });

  it('reads a token from the environment, or takes its hash', () => {
    const path = file(
      `[[auth.tokens]]\nname = "ci"\ntoken = "\${CI_TOKEN}"\n\n[[auth.tokens]]\nname = "ops"\nrole = "admin"\nhash = "${tokenHash('x'.repeat(20))}"\nservers = ["demo"]\n`,
    );
    const config = loadConfig({ file: path, explicit: true, env: { CI_TOKEN: 'ci-token-from-the-env' } });
    expect(config.auth.tokens.map((t) => [t.name, t.role])).toEqual([
      ['ci', 'agent'],
      ['ops', 'admin'],
    ]);
    expect(() => loadConfig({ file: path, explicit: true, env: {} })).toThrow(/CI_TOKEN is not set/);
    // /config never shows a token or a hash.
    const shown = JSON.stringify(redactedConfig(config, []));
    expect(shown).not.toContain('ci-token-from-the-env');
    expect(shown).not.toContain(tokenHash('x'.repeat(20)).slice(7));
  });

  it('validates entries: one of hash or token, a well-formed hash, a long enough token, unique names', () => {
    const invalid: [unknown, RegExp][] = [
      [{ tokens: [{ name: 'a' }] }, /exactly one of 'hash'/],
      [{ tokens: [{ name: 'a', token: 'x'.repeat(20), hash: tokenHash('y') }] }, /exactly one/],
      [{ tokens: [{ name: 'a', hash: 'md5:abc' }] }, /sha256:<64 hex digits>/],
      [{ tokens: [{ name: 'a', token: 'short' }] }, /at least 16/],
      [
        {
          tokens: [
            { name: 'a', token: 'x'.repeat(20) },
            { name: 'a', token: 'y'.repeat(20) },
          ],
        },
        /duplicate token name 'a'/,
      ],
      [{ tokens: [{ name: 'a', token: 'x'.repeat(20), role: 'root' }] }, /role/],
      [{ rate_limit: -1 }, /rate_limit/],
    ];
    for (const [auth, message] of invalid) expect(() => buildConfig({ auth }, 'test.toml', '/srv'), JSON.stringify(auth)).toThrow(message);
  });
});

describe('binding', () => {
  function security(host: string, tokens: unknown[] = []): Security {
    const config = buildConfig({ server: { host }, auth: { tokens } }, 'test.toml', '/srv');
    const logger = silentLogger();
    const catalog = new Catalog({ separator: '__', ttlSeconds: 300, logger });
    return new Security({ config, logger, catalog, backends: () => [] });
  }

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.5', 'gw.example.com', '128.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('refuses a non-loopback address without tokens with a ConfigError (exit 2), and allows it with one', () => {
    expect(() => security('0.0.0.0').assertBindable()).toThrow(
      expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(/refusing to listen on 0\.0\.0\.0.*\[\[auth\.tokens\]\].*127\.0\.0\.1/) }),
    );
    security('127.0.0.1').assertBindable();
    security('0.0.0.0', [{ name: 'ops', token: 'x'.repeat(20) }]).assertBindable();
  });
});
