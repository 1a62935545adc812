import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { type RunningCoord, runCoordToExit, startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { type RunningGateway, startGateway, stopAll as stopGateways } from '../helpers/harness.js';
import { runCli } from '../helpers/run-cli.js';

// Issue #21, item 14: the 32 coordination tools cost ~35 KB of every
// tools/list. [coordination] tools exposes a subset (groups and/or tool
// names) on the gateway's /mcp and the standalone server's /mcp; a hidden
// tool is refused like an unknown tool; REST keeps every route; a bad group
// name is refused at config load with did-you-mean.

const dir = mkdtempSync(join(tmpdir(), 'issue-21-tools-'));
let gw: RunningGateway;
let coord: RunningCoord;
let viaGateway: Client;
let standalone: Client;

const mcp = async (url: string): Promise<Client> => {
  const client = new Client({ name: 'issue-21-tools', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  return client;
};

/** What a refused call says, with the tool's name taken out (a hidden tool and an unknown one must read alike). */
async function refusal(client: Client, name: string): Promise<string> {
  try {
    const result = coordResult(await client.callTool({ name, arguments: {} }));
    expect(result.isError).toBe(true);
    return result.text.replaceAll(name, '<tool>');
  } catch (error) {
    return `thrown: ${(error as Error).message.replaceAll(name, '<tool>')}`;
  }
}

beforeAll(async () => {
  gw = await startGateway(coordToml({}, 'tools = ["messaging", "mux_register"]'));
  await coordReady(gw);
  coord = await startCoord(join(dir, 'coord.db'), ['--opt', 'tools=["claims"]']);
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

describe('issue 21.14: [coordination] tools exposes a subset', () => {
  it('the gateway /mcp lists only the chosen groups and tools', async () => {
    const { tools } = await viaGateway.listTools();
    const coordTools = tools.filter((t) => t.name.startsWith('coord__')).map((t) => t.name);
    // The gateway lists proxied tools by name (issue #23 item 4), whatever the backend's order.
    expect(coordTools).toEqual(['coord__mux_broadcast', 'coord__mux_history', 'coord__mux_poll', 'coord__mux_register', 'coord__mux_send']);
  });

  it('the gateway refuses a hidden tool exactly as an unknown tool, and REST keeps the route', async () => {
    expect(await refusal(viaGateway, 'coord__mux_state_set')).toBe(await refusal(viaGateway, 'coord__mux_no_such'));
    expect(await refusal(viaGateway, 'coord__mux_state_set')).toMatch(/unknown tool/i);
    const rest = await gw.request('POST', '/coord/state/set', { key: 'k', value: 1 });
    expect(rest.status).toBe(200);
  });

  it('the standalone /mcp lists only its subset and refuses a hidden tool like an unknown one', async () => {
    const { tools } = await standalone.listTools();
    expect(tools.map((t) => t.name)).toEqual(['mux_claim_announce', 'mux_claim_check', 'mux_claim_renew', 'mux_claim_release', 'mux_claim_list', 'mux_status']);
    expect(await refusal(standalone, 'mux_send')).toBe(await refusal(standalone, 'mux_no_such'));
    // The instructions point only at tools the model can call.
    const instructions = standalone.getInstructions() ?? '';
    expect(instructions).toMatch(/mux_claim_announce/);
    expect(instructions).not.toMatch(/mux_send|mux_task_post|mux_state_get/);
    expect((await coord.post('/agent/register', { agent_id: 'a', role: 'r' })).status).toBe(200);
  });

  it('a bad group name is refused at config load, with did-you-mean', async () => {
    const file = join(dir, 'bad.toml');
    writeFileSync(file, coordToml({}, 'tools = ["mesaging"]'));
    const check = await runCli(['check', '-c', file]);
    expect(check.code).toBe(2);
    expect(check.stderr).toMatch(
      /coordination\.tools\[0\]: 'mesaging' is not a coordination tool group or tool \(did you mean 'messaging'\?\); the groups are all, agents, messaging, /,
    );
    const alone = await runCoordToExit(['--port', '0', '--db', ':memory:', '--opt', 'tools=["claim"]']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--opt: 'tools\[0\]': 'claim' is not a coordination tool group or tool \(did you mean 'claims'\?\)/);
  });
});
