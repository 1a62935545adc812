import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordReady, coordResult } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * The forced-release rule with gateway tokens: an agent token acts on coord
 * only as itself, so releasing another agent's work claim takes being the
 * agent named in [coordination] claim_admins — and only that agent's token
 * can act as it.
 */

const SECRETS = { alice: 'claims-alice-secret-0001', mallory: 'claims-mallory-secret-0002', lead: 'claims-lead-secret-0003' };
let gw: RunningGateway;

beforeAll(async () => {
  const tokens = Object.keys(SECRETS)
    .map((name) => `[[auth.tokens]]\nname = "${name}"\ntoken = "\${CLAIMS_${name.toUpperCase()}}"\n`)
    .join('\n');
  gw = await startGateway(`[coordination]\nclaim_admins = ["lead"]\n\n[auth]\n${tokens}`, {
    env: Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`CLAIMS_${name.toUpperCase()}`, secret])),
  });
  await coordReady(gw);
});
afterAll(stopAll);

async function post(token: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}/coord${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('forced release of work claims with [auth] tokens', () => {
  it('refuses another agent, refuses acting as the admin, and lets the admin release', async () => {
    const announced = await post(SECRETS.alice, '/claim/announce', { agent_id: 'alice', paths: ['src/app.ts'], intent: 'Refactor the app' });
    expect(announced.status).toBe(200);
    const claimId = (announced.body.claim as { id: string }).id;

    const stranger = await post(SECRETS.mallory, '/claim/release', { claim_id: claimId, agent_id: 'mallory' });
    expect(stranger).toMatchObject({ status: 403, body: { code: 'FORBIDDEN', agent_id: 'alice' } });
    const impostor = await post(SECRETS.mallory, '/claim/release', { claim_id: claimId, agent_id: 'lead' });
    expect(impostor.status).toBe(403);
    expect(String(impostor.body.error)).toContain("this token is 'mallory'");

    // The same through /mcp: the gateway's call guard refuses acting as the admin.
    const client = new Client({ name: 'mallory', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${SECRETS.mallory}` } } }),
    );
    try {
      const viaMcp = coordResult(await client.callTool({ name: 'coord__mux_claim_release', arguments: { claim_id: claimId, agent_id: 'lead' } }));
      expect(viaMcp.isError).toBe(true);
      expect(viaMcp.text).toMatch(/^FORBIDDEN/);
    } finally {
      await client.close();
    }

    const forced = await post(SECRETS.lead, '/claim/release', { claim_id: claimId, agent_id: 'lead' });
    expect(forced).toMatchObject({ status: 200, body: { status: 'released', released_by: 'lead', agent_id: 'alice' } });
  });
});
