import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseBackendEntry } from '../../src/config/load.js';
import { redactedConfig } from '../../src/config/redact.js';
import { ConfigSchema } from '../../src/config/schema.js';

/* Issue #27: the `oauth` key of a [[backends]] entry. */

const OAUTH = 'oauth = { grant = "client_credentials", client_id = "gw", client_secret = "${BACKEND_SECRET}" }';

function load(entry: string, env: Record<string, string> = { BACKEND_SECRET: 'the-backend-secret-0123' }) {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-oauth-out-'));
  const file = join(dir, 'stonegate.toml');
  writeFileSync(file, `[[backends]]\nname = "remote"\n${entry}\n`);
  return loadConfig({ file, env, explicit: true });
}

function loadError(entry: string): string {
  try {
    load(entry);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('[[backends]] oauth', () => {
  it('is read with its defaults, the secret from the environment, and redacted in /config', () => {
    const config = load(`transport = "http"\nurl = "https://mcp.example.com/mcp"\n${OAUTH}`);
    const backend = config.backends[0];
    expect(backend?.oauth).toEqual({
      grant: 'client_credentials',
      client_id: 'gw',
      client_secret: 'the-backend-secret-0123',
      scopes: [],
      token_timeout: 10_000,
    });
    const shown = JSON.stringify(redactedConfig(config, config.backends));
    expect(shown).not.toContain('the-backend-secret-0123');
    expect(shown).toContain('"client_id":"gw"');
  });

  it('refuses a secret written in the file, a stdio backend, an Authorization header beside it, another grant', () => {
    expect(
      loadError(`transport = "http"\nurl = "https://a.example/mcp"\noauth = { grant = "client_credentials", client_id = "gw", client_secret = "plain" }`),
    ).toMatch(/backends\[0\]\.oauth\.client_secret: a secret must not be written in the file/);
    expect(loadError(`command = "x"\n${OAUTH}`)).toMatch(/oauth is for transport = "http" backends only/);
    expect(loadError(`transport = "http"\nurl = "https://a.example/mcp"\nheaders = { authorization = "Bearer x" }\n${OAUTH}`)).toMatch(/exclude each other/);
    expect(loadError(`transport = "http"\nurl = "https://a.example/mcp"\n${OAUTH.replace('client_credentials', 'password')}`)).toMatch(/grant/);
    expect(loadError(`transport = "http"\nurl = "https://a.example/mcp"\n${OAUTH.replace(' }', ', token_url = "http://idp.example/token" }')}`)).toMatch(
      /token_url/,
    );
  });

  it('is not accepted in a runtime add (its secret would be stored as given)', () => {
    const raw = ConfigSchema.parse({});
    const entry = { name: 'r', transport: 'http', url: 'https://a.example/mcp', oauth: { grant: 'client_credentials', client_id: 'gw', client_secret: 'x' } };
    expect(() => parseBackendEntry(entry, raw, '/')).toThrow(/configured in the file/);
  });
});
