import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, stopAll } from '../helpers/harness.js';
import { type AuthServer, CLIENTS, clientToken, revoke, startAuthServer } from '../helpers/oidc.js';

/*
 * Issue #26 item 1: opaque access tokens through introspection_url (RFC
 * 7662), against a real oidc-provider that issues opaque tokens to
 * `opaque-client` and answers the gateway's own client (`gateway-client`,
 * its secret from the environment). JWTs keep their own path beside it.
 */

let idp: AuthServer;
let url: string;
let resource: string;

beforeAll(async () => {
  idp = await startAuthServer();
  const toml = `[auth]
[auth.oauth]
issuer = "${idp.issuer}"
introspection_url = "${idp.issuer}/token/introspection"
client_id = "${CLIENTS.gateway.id}"
client_secret = "\${OAUTH_T_GATEWAY_SECRET}"
identity_claim = "client_id"
`;
  const gw = await startGateway(toml, { env: { OAUTH_T_GATEWAY_SECRET: CLIENTS.gateway.secret } });
  url = gw.url;
  resource = `${gw.url}/mcp`;
});

afterAll(async () => {
  await stopAll();
  await idp?.close();
});

async function tools(bearer: string): Promise<{ status: number; body: Record<string, unknown>; challenge: string | null }> {
  const res = await fetch(`${url}/tools`, { headers: { authorization: `Bearer ${bearer}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, challenge: res.headers.get('www-authenticate') };
}

describe('issue 26: opaque tokens (introspection_url)', () => {
  it('accepts an active opaque token for this gateway, as oauth:<client_id>', async () => {
    const token = await clientToken(idp.issuer, CLIENTS.opaque, resource);
    expect(token.split('.').length).toBe(1);
    expect((await tools(token)).status).toBe(200);
    // The JWT path is unchanged beside it.
    expect((await tools(await clientToken(idp.issuer, CLIENTS.agent, resource))).status).toBe(200);
  });

  it('refuses an opaque token minted for another resource, an unknown one and a revoked one', async () => {
    const other = await tools(await clientToken(idp.issuer, CLIENTS.opaque, 'http://127.0.0.1:9/mcp'));
    expect(other).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
    expect(other.challenge).toContain('error="invalid_token"');
    expect((await tools('an-opaque-token-nobody-issued')).status).toBe(401);
    const revoked = await clientToken(idp.issuer, CLIENTS.opaque, resource);
    await revoke(idp.issuer, CLIENTS.opaque, revoked);
    expect(await tools(revoked)).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
  });
});
