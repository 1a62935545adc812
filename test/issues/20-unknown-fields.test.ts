import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoordResult, coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningCoord, startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { type RunningGateway, startGateway, stopAll as stopGateways } from '../helpers/harness.js';

// Issue #20, item 4: each coordination operation's input is one zod schema,
// and the MCP tools check arguments with it the way REST checks bodies and
// query strings. Before, MCP dropped a field it did not know (a typo in
// 'channel' acted on the default channel) while REST refused it. Now one
// unknown field is refused on the gateway's MCP, the standalone server's MCP
// and REST (both hosts) with the same code and the same sentence.

/** One operation reached by its tool and by its REST route, with an unknown field added. */
interface Case {
  tool: string;
  args: Record<string, unknown>;
  method: 'GET' | 'POST';
  path: string;
  sentence: string;
}

const CASES: readonly Case[] = [
  {
    tool: 'mux_send',
    args: { from: 'a', to: 'b', content: 'x', chanel: 'ops' },
    method: 'POST',
    path: '/msg/send',
    sentence: "Invalid request: unknown field(s) 'chanel' (the fields are from, to, content, channel).",
  },
  {
    tool: 'mux_register',
    args: { agent_id: 'a', role: 'r', capabilitys: ['x'] },
    method: 'POST',
    path: '/agent/register',
    sentence: "Invalid request: unknown field(s) 'capabilitys' (the fields are agent_id, role, capabilities, group, channel, webhook_url).",
  },
  {
    tool: 'mux_poll',
    args: { agent_id: 'a', timeout: 0, cursor: 3 },
    method: 'GET',
    path: '/msg/poll?agent_id=a&timeout=0&cursor=3',
    sentence: "Invalid request: unknown field(s) 'cursor' (the fields are agent_id, channel, timeout, after, limit).",
  },
  {
    tool: 'mux_claim_announce',
    args: { agent_id: 'a', paths: ['src/a.ts'], intent: 'edit', ttl: 60 },
    method: 'POST',
    path: '/claim/announce',
    sentence:
      "Invalid request: unknown field(s) 'ttl' (the fields are agent_id, paths, intent, depends_on, modules, target_symbols, ttl_seconds, exclusive, channel, repo).",
  },
  {
    tool: 'mux_channel_list',
    args: { verbose: true },
    method: 'GET',
    path: '/channel/list?verbose=true',
    sentence: "Invalid request: unknown field(s) 'verbose' (the fields are none).",
  },
];

/** Every refusal must be this: BAD_REQUEST, the case's sentence, the same body as REST. */
function expectRefusal(result: CoordResult, sentence: string): void {
  expect(result.isError).toBe(true);
  expect(result.text).toBe(`BAD_REQUEST: ${sentence}`);
  // [coord-2] (#21 item 2) adds `field`, the one field to blame, to every refusal.
  expect(result.body).toMatchObject({ error: sentence, code: 'BAD_REQUEST' });
  expect(result.meta).toMatchObject({ 'stonegate/error': { code: 'BAD_REQUEST' } });
}

const mcp = async (url: string): Promise<Client> => {
  const client = new Client({ name: 'issue-20', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  return client;
};

const dir = mkdtempSync(join(tmpdir(), 'issue-20-'));
let gw: RunningGateway;
let coord: RunningCoord;
let viaGateway: Client;
let standalone: Client;

beforeAll(async () => {
  gw = await startGateway(coordToml());
  await coordReady(gw);
  coord = await startCoord(join(dir, 'coord.db'));
  viaGateway = await mcp(gw.url);
  standalone = await mcp(coord.url);
});
afterAll(async () => {
  await viaGateway.close();
  await standalone.close();
  await stopGateways();
  await stopCoords();
  rmSync(dir, { recursive: true, force: true });
});

describe('issue 20.4: an unknown field is refused the same way on every surface', () => {
  it('gateway MCP (coord__<tool>) answers an error result with BAD_REQUEST and the sentence', async () => {
    for (const c of CASES) expectRefusal(coordResult(await viaGateway.callTool({ name: `coord__${c.tool}`, arguments: c.args })), c.sentence);
  });

  it('standalone MCP answers the same', async () => {
    for (const c of CASES) expectRefusal(coordResult(await standalone.callTool({ name: c.tool, arguments: c.args })), c.sentence);
  });

  it('REST under /coord answers 400 with the same code and sentence, on the gateway and on the standalone server', async () => {
    for (const c of CASES) {
      const body = c.method === 'POST' ? c.args : undefined;
      const onGateway = await gw.request(c.method, `/coord${c.path}`, body);
      expect(onGateway).toMatchObject({ status: 400, body: { error: c.sentence, code: 'BAD_REQUEST' } });
      const alone = c.method === 'POST' ? await coord.post(c.path, body) : await coord.get(c.path);
      expect(alone).toMatchObject({ status: 400, body: { error: c.sentence, code: 'BAD_REQUEST' } });
    }
  });

  it('REST still names a wrong type as such, not as a missing field', async () => {
    // The sentences are [coord-2]'s (#21 item 2): the same on every surface.
    const soon = await coord.get('/msg/poll?agent_id=a&timeout=soon');
    expect(soon).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST', error: "Invalid request: 'timeout' must be a number, not the text 'soon'." } });
    const number = await coord.post('/msg/send', { from: 1, to: 'b', content: 'x' });
    expect(number.body.error).toBe("Invalid request: 'from' must be text, not 1.");
  });

  it('the listed tool schema is the operation schema: its fields and required ones', async () => {
    const { tools } = await standalone.listTools();
    const send = tools.find((t) => t.name === 'mux_send');
    expect(Object.keys(send?.inputSchema.properties ?? {})).toEqual(['from', 'to', 'content', 'channel']);
    expect(send?.inputSchema.required).toEqual(['from', 'to', 'content']);
  });

  it('a well-formed call still works on every surface', async () => {
    const register = { agent_id: 'ok-agent', role: 'r' };
    expect(coordResult(await viaGateway.callTool({ name: 'coord__mux_register', arguments: register })).isError).toBe(false);
    expect(coordResult(await standalone.callTool({ name: 'mux_register', arguments: register })).isError).toBe(false);
    expect((await coord.get('/channel/list')).status).toBe(200);
    expect((await gw.request('GET', '/coord/msg/poll?agent_id=ok-agent&timeout=0')).status).toBe(200);
  });
});
