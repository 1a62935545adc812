import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordResult, coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #21 item 9: with tokens, `state/set` without `updated_by` and
 * `channel/create` without `created_by` stored null, though the gateway
 * knows which agent the token is. An agent token's name now fills the
 * absent field, over REST and MCP; an admin token (which acts for anyone)
 * records only what it sends; a field the agent gives is still checked.
 * Tokens: ann (agent), ops (admin).
 */

const SECRETS = { ann: 'identity-ann-secret-0001', ops: 'identity-ops-secret-0002' };
const clients: Client[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  const tokens = Object.keys(SECRETS)
    .map((name) => `[[auth.tokens]]\nname = "${name}"\ntoken = "\${IDENTITY_${name.toUpperCase()}}"\n${name === 'ops' ? 'role = "admin"\n' : ''}`)
    .join('\n');
  gw = await startGateway(coordToml({}, `[auth]\n${tokens}`), {
    env: Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`IDENTITY_${name.toUpperCase()}`, secret])),
  });
  await coordReady(gw);
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopAll();
});

async function rest(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function tool(token: string, name: string, args: Record<string, unknown>): Promise<CoordResult> {
  const client = new Client({ name: 'issue-21-identity-tokens', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return coordResult(await client.callTool({ name: `coord__${name}`, arguments: args }));
}

const stateOf = async (key: string): Promise<Record<string, unknown>> => (await rest(SECRETS.ops, 'GET', `/coord/state/get?key=${key}`)).body;
const channelOf = async (name: string): Promise<Record<string, unknown> | undefined> =>
  ((await rest(SECRETS.ops, 'GET', '/coord/channel/list')).body.channels as Array<Record<string, unknown>>).find((c) => c.name === name);

describe('issue 21.9: an agent token fills an absent updated_by / created_by', () => {
  it('state/set without updated_by records the agent token, over REST and MCP', async () => {
    expect((await rest(SECRETS.ann, 'POST', '/coord/state/set', { key: 'rest-key', value: 1 })).status).toBe(200);
    expect(await stateOf('rest-key')).toMatchObject({ version: 1, updated_by: 'ann' });
    const viaMcp = await tool(SECRETS.ann, 'mux_state_set', { key: 'mcp-key', value: 2 });
    expect(viaMcp.isError, viaMcp.text).toBe(false);
    expect(await stateOf('mcp-key')).toMatchObject({ version: 1, updated_by: 'ann' });
  });

  it('channel/create without created_by records the agent token, over REST and MCP', async () => {
    expect((await rest(SECRETS.ann, 'POST', '/coord/channel/create', { name: 'rest-room' })).status).toBe(200);
    expect(await channelOf('rest-room')).toMatchObject({ created_by: 'ann' });
    const viaMcp = await tool(SECRETS.ann, 'mux_channel_create', { name: 'mcp-room' });
    expect(viaMcp.isError, viaMcp.text).toBe(false);
    expect(await channelOf('mcp-room')).toMatchObject({ created_by: 'ann' });
  });

  it('still refuses another agent named by an agent token, and an admin token fills nothing', async () => {
    const other = await rest(SECRETS.ann, 'POST', '/coord/state/set', { key: 'k', value: 1, updated_by: 'bob' });
    expect(other).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    expect((await rest(SECRETS.ops, 'POST', '/coord/state/set', { key: 'admin-key', value: 1 })).status).toBe(200);
    expect(await stateOf('admin-key')).toMatchObject({ version: 1, updated_by: null });
    expect((await tool(SECRETS.ops, 'mux_state_set', { key: 'admin-mcp', value: 1, updated_by: 'dispatcher' })).isError).toBe(false);
    expect(await stateOf('admin-mcp')).toMatchObject({ updated_by: 'dispatcher' });
  });

  it('a wrong method on a /coord route is 405 for a token, and still 401 without one', async () => {
    const withToken = await fetch(`${gw.url}/coord/msg/send`, { headers: { authorization: `Bearer ${SECRETS.ann}` } });
    expect(withToken.status).toBe(405);
    expect(withToken.headers.get('allow')).toBe('POST');
    expect((await fetch(`${gw.url}/coord/msg/send`)).status).toBe(401);
  });
});
