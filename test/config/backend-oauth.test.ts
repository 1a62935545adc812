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

describe('[[backends]] oauth: private_key_jwt and authorization_code ([oauth-out])', () => {
  const URL_KEYS = 'transport = "http"\nurl = "https://mcp.example.com/mcp"\n';

  it('private_key (from the environment) replaces client_secret, is redacted in /config and scrubbed', () => {
    const config = load(`${URL_KEYS}oauth = { grant = "client_credentials", client_id = "gw", private_key = "\${BACKEND_KEY}", private_key_alg = "ES256" }`, {
      BACKEND_KEY: '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----',
    });
    expect(config.backends[0]?.oauth).toMatchObject({ grant: 'client_credentials', private_key_alg: 'ES256' });
    const shown = JSON.stringify(redactedConfig(config, config.backends));
    expect(shown).not.toContain('MIGHAgEAMBMGByqGSM49');
    expect(shown).toContain('"private_key":"[redacted]"');
    expect(loadError(`${URL_KEYS}oauth = { grant = "client_credentials", client_id = "gw", private_key = "-----BEGIN PRIVATE KEY-----" }`)).toMatch(
      /backends\[0\]\.oauth\.private_key: a secret must not be written in the file/,
    );
    expect(loadError(`${URL_KEYS}oauth = { grant = "client_credentials", client_id = "gw" }`)).toMatch(/exactly one/);
    expect(
      loadError(
        `${URL_KEYS}oauth = { grant = "client_credentials", client_id = "gw", client_secret = "\${BACKEND_SECRET}", private_key = "\${BACKEND_SECRET}" }`,
      ),
    ).toMatch(/exactly one/);
  });

  it('authorization_code needs no client: its defaults, and its checks', () => {
    const config = load(`${URL_KEYS}oauth = { grant = "authorization_code" }`);
    expect(config.backends[0]?.oauth).toEqual({ grant: 'authorization_code', scopes: [], redirect_port: 0, token_timeout: 10_000 });
    expect(loadError(`${URL_KEYS}oauth = { grant = "authorization_code", client_id = "gw", client_secret = "plain" }`)).toMatch(
      /oauth\.client_secret: a secret must not be written/,
    );
    expect(loadError(`${URL_KEYS}oauth = { grant = "authorization_code", client_metadata_url = "http://gw.example.com/client.json" }`)).toMatch(
      /client_metadata_url/,
    );
    expect(loadError(`${URL_KEYS}oauth = { grant = "authorization_code", redirect_port = 70000 }`)).toMatch(/redirect_port/);
  });
});
