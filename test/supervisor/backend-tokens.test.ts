import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SECRET_KEY_ENV, TOKEN_FILE, TOKEN_KEY_FILE, type TokenEntry, TokenStore } from '../../src/supervisor/backend-tokens.js';

/* Issue #27: the backend token store, sealed at rest. */

const entry: TokenEntry = {
  backend: 'remote',
  url: 'https://mcp.example.com/mcp',
  client_id: 'gw',
  tokens: { access_token: 'access-token-text-0123456789', refresh_token: 'refresh-token-text-0123456789', token_type: 'Bearer' },
  expires_at: 1_900_000_000_000,
};
const KEY = 'ab'.repeat(32);

describe('TokenStore', () => {
  it('keeps entries across instances without their text on disk, under a 0600 key file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-tokens-'));
    new TokenStore(dir, {}).set(entry);
    const text = readFileSync(join(dir, TOKEN_FILE), 'utf8');
    expect(text).not.toContain('access-token-text');
    expect(text).not.toContain('refresh-token-text');
    expect(statSync(join(dir, TOKEN_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(new TokenStore(dir, {}).get('remote', entry.url, 'gw')).toEqual(entry);
    // Bound to the backend's URL and client: another one does not get it.
    expect(new TokenStore(dir, {}).get('remote', 'https://other.example/mcp', 'gw')).toBeUndefined();
    expect(new TokenStore(dir, {}).get('remote', entry.url, 'other-client')).toBeUndefined();
  });

  it(`uses ${SECRET_KEY_ENV} when set: what one key sealed, another does not open`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-tokens-'));
    new TokenStore(dir, { [SECRET_KEY_ENV]: KEY }).set(entry);
    expect(new TokenStore(dir, { [SECRET_KEY_ENV]: KEY }).get('remote', entry.url, 'gw')).toEqual(entry);
    expect(new TokenStore(dir, {}).get('remote', entry.url, 'gw')).toBeUndefined();
    expect(new TokenStore(dir, { [SECRET_KEY_ENV]: Buffer.from(KEY, 'hex').toString('base64') }).get('remote', entry.url, 'gw')).toEqual(entry);
    expect(() => new TokenStore(dir, { [SECRET_KEY_ENV]: 'too-short' })).toThrow(/32 bytes/);
  });

  it('deletes an entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-tokens-'));
    const store = new TokenStore(dir, {});
    store.set(entry);
    store.delete('remote');
    expect(new TokenStore(dir, {}).get('remote', entry.url, 'gw')).toBeUndefined();
  });

  it('[oauth-out] sees what another process wrote (stonegate auth login), and keeps its entries when writing its own', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-tokens-'));
    const gateway = new TokenStore(dir, {});
    const cli = new TokenStore(dir, {});
    expect(gateway.get('remote', entry.url, 'gw')).toBeUndefined();
    cli.set(entry);
    cli.setClient({ backend: 'remote', url: entry.url, client: { client_id: 'gw' }, redirect_uri: 'http://127.0.0.1:4000/callback' });
    expect(gateway.get('remote', entry.url, 'gw')).toEqual(entry);
    expect(gateway.getClient('remote', entry.url)?.client.client_id).toBe('gw');
    // The gateway's own write (another backend) keeps the entries the CLI wrote.
    gateway.set({ ...entry, backend: 'other' });
    expect(new TokenStore(dir, {}).get('remote', entry.url, 'gw')).toEqual(entry);
    // An entry the gateway opened (and keeps opened) is replaced when another process writes a new one.
    const renewed = { ...entry, tokens: { ...entry.tokens, access_token: 'renewed-access-token-0123' } };
    cli.set(renewed);
    expect(gateway.get('remote', entry.url, 'gw')).toEqual(renewed);
    cli.delete('remote');
    cli.deleteClient('remote');
    expect(gateway.get('remote', entry.url, 'gw')).toBeUndefined();
    expect(gateway.getClient('remote', entry.url)).toBeUndefined();
    expect(gateway.get('other', entry.url, 'gw')).toBeDefined();
  });
});
