import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ident } from '../../backends/coord/validate.js';
import { discoverJwksUri, metadataUrlOf, OAuthVerifier, oauthName } from '../../src/auth/oauth.js';
import { Security } from '../../src/auth/security.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { buildConfig, loadConfig } from '../../src/config/load.js';
import { redactedConfig } from '../../src/config/redact.js';
import { TOKEN_NAME } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';

// Issue #26: the pieces of [auth.oauth] that need no gateway.

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

describe('OAuth identity names', () => {
  it('namespaces a plain claim value, which no static token name can be', () => {
    expect(oauthName('agent-client')).toBe('oauth:agent-client');
    expect(oauthName('auth0|5f3a')).toBe('oauth:auth0|5f3a');
    expect(TOKEN_NAME.test(oauthName('agent-client'))).toBe(false);
  });

  it('maps a value with other characters to a stable coordination-safe id', () => {
    const values = ['Jane Doe <jane@example.com>', 'zoë', 'a\u202eb', ' padded ', 'x'.repeat(97), 'line\nbreak'];
    const names = values.map(oauthName);
    for (const name of names) {
      expect(name).toMatch(/^oauth:~[0-9a-f]{32}$/);
      expect(ident(name, 'agent_id')).toBe(name);
    }
    expect(new Set(names).size).toBe(values.length);
    expect(oauthName('zoë')).toBe(names[1]);
  });
});

describe('protected-resource metadata URL (RFC 9728 §3.1)', () => {
  it('inserts the well-known path between the origin and the resource path', () => {
    expect(metadataUrlOf('https://gw.example.com/mcp')).toBe('https://gw.example.com/.well-known/oauth-protected-resource/mcp');
    expect(metadataUrlOf('https://gw.example.com/')).toBe('https://gw.example.com/.well-known/oauth-protected-resource');
  });
});

/** A metadata server answering `documents` by path (404 for others); the paths it was asked, in order. */
async function metadataServer(documents: (base: string) => Record<string, unknown>): Promise<{ base: string; asked: string[] }> {
  const asked: string[] = [];
  let base = '';
  const server = createServer((req, res) => {
    asked.push(req.url ?? '');
    const doc = documents(base)[req.url ?? ''];
    res.statusCode = doc === undefined ? 404 : 200;
    res.end(doc === undefined ? '' : JSON.stringify(doc));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, asked };
}

describe('issuer metadata discovery', () => {
  it('tries RFC 8414 first, then OpenID Connect (path inserted, then appended)', async () => {
    const { base, asked } = await metadataServer((b) => ({
      '/tenant/.well-known/openid-configuration': { issuer: `${b}/tenant`, jwks_uri: `${b}/keys` },
    }));
    expect(await discoverJwksUri(`${base}/tenant`)).toBe(`${base}/keys`);
    expect(asked).toEqual([
      '/.well-known/oauth-authorization-server/tenant',
      '/.well-known/openid-configuration/tenant',
      '/tenant/.well-known/openid-configuration',
    ]);
  });

  it('takes RFC 8414 metadata when there is some', async () => {
    const { base, asked } = await metadataServer((b) => ({ '/.well-known/oauth-authorization-server': { issuer: b, jwks_uri: `${b}/jwks` } }));
    expect(await discoverJwksUri(base)).toBe(`${base}/jwks`);
    expect(asked).toEqual(['/.well-known/oauth-authorization-server']);
  });

  it('refuses metadata naming another issuer (AUTH_UNAVAILABLE)', async () => {
    const { base } = await metadataServer(() => ({
      '/.well-known/oauth-authorization-server': { issuer: 'https://evil.example', jwks_uri: 'https://evil.example/jwks' },
    }));
    await expect(discoverJwksUri(base)).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE', message: expect.stringContaining('evil.example') });
  });
});

describe('a provider that fails', () => {
  it('refuses a jwks_uri that is not https (off loopback)', async () => {
    const { base } = await metadataServer((b) => ({ '/.well-known/oauth-authorization-server': { issuer: b, jwks_uri: 'http://idp.example.com/jwks' } }));
    await expect(discoverJwksUri(base)).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE' });
  });

  it('is not asked again by every request while it is failing', async () => {
    const { base, asked } = await metadataServer(() => ({}));
    const verifier = new OAuthVerifier(buildConfig({ auth: { oauth: { issuer: base } } }, '(test)', '/tmp').auth);
    await expect(verifier.authenticate('a.b.c')).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE', retryAfter: 5 });
    const first = asked.length;
    expect(first).toBe(2); // RFC 8414, then OpenID Connect (the issuer has no path: inserted and appended are one URL)
    await expect(verifier.authenticate('a.b.c')).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE' });
    expect(asked.length).toBe(first);
  });
});

describe('[auth.oauth] config', () => {
  const build =
    (oauth: Record<string, unknown>, server: Record<string, unknown> = {}) =>
    () =>
      buildConfig({ server, auth: { oauth } }, '(test)', '/tmp');

  it('is off by default and takes an https issuer, or http on loopback', () => {
    expect(buildConfig({}, '(test)', '/tmp').auth.oauth.issuer).toBe('');
    expect(build({ issuer: 'https://idp.example.com' })).not.toThrow();
    expect(build({ issuer: 'http://127.0.0.1:8080' })).not.toThrow();
    expect(build({ issuer: 'http://idp.example.com' })).toThrow(/issuer: an https:\/\/ URL/);
  });

  it('refuses keys whose features are not built, equal scopes, and a missing resource off loopback', () => {
    expect(build({ issuer: 'https://idp.example.com', introspection_url: 'https://idp.example.com/introspect' })).toThrow(/needs client_id and client_secret/);
    expect(build({ issuer: 'https://idp.example.com', view_claim: 'view' })).not.toThrow();
    expect(build({ issuer: 'https://idp.example.com', admin_scope: 'stonegate:agent' })).toThrow(/must differ from agent_scope/);
    expect(build({ issuer: 'https://idp.example.com', scopes_supported: ['stonegate:agent', 'offline_access'] })).toThrow(/offline_access/);
    expect(build({ issuer: 'https://idp.example.com' }, { host: '0.0.0.0' })).toThrow(/auth\.oauth\.resource/);
    expect(build({ issuer: 'https://idp.example.com', resource: 'https://gw.example.com/mcp' }, { host: '0.0.0.0' })).not.toThrow();
  });
});

describe('introspection (opaque tokens)', () => {
  it('answers AUTH_UNAVAILABLE when the introspection endpoint fails', async () => {
    const { base } = await metadataServer(() => ({}));
    const oauth = { issuer: base, introspection_url: `${base}/introspect`, client_id: 'gw', client_secret: 'gw-secret' };
    const verifier = new OAuthVerifier(buildConfig({ auth: { oauth } }, '(test)', '/tmp').auth);
    await expect(verifier.authenticate('opaque-token')).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE' });
  });

  it('takes the client secret only from the environment, and never shows it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-oauth-'));
    try {
      const file = join(dir, 'stonegate.toml');
      const oauth = '[auth.oauth]\nissuer = "https://idp.example.com"\nintrospection_url = "https://idp.example.com/introspect"\nclient_id = "gw"\n';
      writeFileSync(file, `${oauth}client_secret = "written-in-the-file"\n`);
      expect(() => loadConfig({ file, explicit: true, env: {} })).toThrow(/auth\.oauth\.client_secret: a secret must not be written in the file/);
      writeFileSync(file, `${oauth}client_secret = "\${GW_SECRET}"\n`);
      const config = loadConfig({ file, explicit: true, env: { GW_SECRET: 'secret-from-the-env' } });
      expect(config.auth.oauth.client_secret).toBe('secret-from-the-env');
      expect(JSON.stringify(redactedConfig(config, []))).not.toContain('secret-from-the-env');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('binding beyond loopback', () => {
  it('is allowed with an OAuth issuer as with tokens, and its client secret is scrubbed', () => {
    const oauth = { issuer: 'https://idp.example.com', resource: 'https://gw.example.com/mcp' };
    const config = buildConfig(
      {
        server: { host: '0.0.0.0' },
        auth: { oauth: { ...oauth, introspection_url: 'https://idp.example.com/i', client_id: 'gw', client_secret: 'gw-secret-value' } },
      },
      '(test)',
      '/tmp',
    );
    const logger = silentLogger();
    const security = new Security({ config, logger, catalog: new Catalog({ separator: '__', ttlSeconds: 300, logger }), backends: () => [] });
    expect(security.enabled).toBe(true);
    expect(() => security.assertBindable()).not.toThrow();
    expect(security.secrets()).toContain('gw-secret-value');
  });
});
