import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordReady, coordResult, coordToml } from '../helpers/coord-harness.js';
import { MAIN, type RunningCoord, startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { type RunningGateway, startGateway, stopAll as stopGateways } from '../helpers/harness.js';

// Issue #21, item 2: one strict input per operation, answered the same way
// on every surface. Before, a wrong type never reached coord's own check
// over MCP: the standalone server answered the SDK's "Input validation
// error" (no code), the gateway answered INVALID_ARGUMENTS from its ajv
// check against the listing, and REST answered BAD_REQUEST in zod's words
// ("expected int, received number"); no surface said which field to blame.
// Now each bad input below gets BAD_REQUEST, one sentence and `field` on
// REST (gateway and standalone), gateway MCP, standalone MCP over HTTP and
// over stdio.

/** One mistake: the operation, its REST route, the arguments and what every surface must answer. */
interface Case {
  tool: string;
  route: `${'GET' | 'POST'} /${string}`;
  args: Record<string, unknown>;
  /** The exact sentence, or (for a rule of the store rather than the schema) a pattern it matches. */
  sentence: string | RegExp;
  field: string | undefined;
}

const CASES: readonly Case[] = [
  {
    tool: 'mux_state_set',
    route: 'POST /state/set',
    args: { key: 'k', value: 1, expectedVersion: 0 },
    sentence: "Invalid request: unknown field(s) 'expectedVersion' (the fields are key, value, channel, expected_version, updated_by).",
    field: 'expectedVersion',
  },
  {
    tool: 'mux_claim_announce',
    route: 'POST /claim/announce',
    args: { agent_id: 'a', paths: ['src/a.ts'], intent: 'edit', exclusiv: true },
    sentence:
      "Invalid request: unknown field(s) 'exclusiv' (the fields are agent_id, paths, intent, depends_on, modules, target_symbols, ttl_seconds, exclusive, channel, repo).",
    field: 'exclusiv',
  },
  {
    tool: 'mux_poll',
    route: 'GET /msg/poll',
    args: { agent_id: 'a', timeout: 0, aftr: 3 },
    sentence: "Invalid request: unknown field(s) 'aftr' (the fields are agent_id, channel, timeout, after, limit).",
    field: 'aftr',
  },
  {
    tool: 'mux_task_post',
    route: 'POST /task/post',
    args: { description: 'd', posted_by: 'p', priority: 1.5 },
    sentence: "Invalid request: 'priority' must be a whole number, not 1.5.",
    field: 'priority',
  },
  {
    tool: 'mux_task_post',
    route: 'POST /task/post',
    args: { description: 'd', posted_by: 'p', priority: 'high' },
    sentence: "Invalid request: 'priority' must be a number, not the text 'high'.",
    field: 'priority',
  },
  {
    tool: 'mux_send',
    route: 'POST /msg/send',
    args: { from: 7, to: 'b', content: 'x' },
    sentence: "Invalid request: 'from' must be text, not 7.",
    field: 'from',
  },
  { tool: 'mux_send', route: 'POST /msg/send', args: { to: 'b', content: 'x' }, sentence: "Invalid request: 'from' is required.", field: 'from' },
  {
    tool: 'mux_poll',
    route: 'GET /msg/poll',
    args: { agent_id: 'a', timeout: -1 },
    sentence: "Invalid request: 'timeout' must be at least 0, not -1.",
    field: 'timeout',
  },
  {
    tool: 'mux_poll',
    route: 'GET /msg/poll',
    args: { agent_id: 'a', timeout: 0, limit: 0 },
    sentence: "Invalid request: 'limit' must be at least 1, not 0.",
    field: 'limit',
  },
  {
    tool: 'mux_task_post',
    route: 'POST /task/post',
    args: { description: 'd', posted_by: 'p', priority: 2 ** 60 },
    sentence: `Invalid request: 'priority' must be at most ${Number.MAX_SAFE_INTEGER}, not ${2 ** 60}.`,
    field: 'priority',
  },
  {
    tool: 'mux_poll',
    route: 'GET /msg/poll',
    args: { agent_id: 'a', timeout: 'soon' },
    sentence: "Invalid request: 'timeout' must be a number, not the text 'soon'.",
    field: 'timeout',
  },
  {
    tool: 'mux_register',
    route: 'POST /agent/register',
    args: { agent_id: 'a', role: 'r', capabilities: [1] },
    sentence: "Invalid request: 'capabilities[0]' must be text, not 1.",
    field: 'capabilities',
  },
  {
    tool: 'mux_register',
    route: 'POST /agent/register',
    args: { agent_id: 'a', role: 'r', group: 5 },
    sentence: "Invalid request: 'group' must be text or null, not 5.",
    field: 'group',
  },
  {
    tool: 'mux_task_complete',
    route: 'POST /task/complete',
    args: { task_id: 't', agent_id: 'a', status: 'done' },
    sentence: "Invalid request: 'status' must be one of 'complete', 'failed', not the text 'done'.",
    field: 'status',
  },
  {
    tool: 'mux_send',
    route: 'POST /msg/send',
    args: { to: 9, content: 'x', chanel: 'ops' },
    sentence: "Invalid request: 'from' is required; 'to' must be text, not 9; unknown field(s) 'chanel' (the fields are from, to, content, channel).",
    field: undefined,
  },
  // Rules past the schema (the stores' checks) carry the field the same way.
  {
    tool: 'mux_send',
    route: 'POST /msg/send',
    args: { from: 'a', to: 'b', content: 'x', channel: 'no spaces' },
    sentence: /^Channel name 'no spaces' is not valid/,
    field: 'channel',
  },
  { tool: 'mux_send', route: 'POST /msg/send', args: { from: 'a', to: 'b', content: '' }, sentence: /^Message content is empty/, field: 'content' },
  { tool: 'mux_state_get', route: 'GET /state/get', args: { key: '' }, sentence: /^key '' is not valid/, field: 'key' },
  {
    tool: 'mux_claim_check',
    route: 'POST /claim/check',
    args: { paths: ['src/a.ts'], agent_id: 'a', repo: ' r' },
    sentence: /^repo ' r' is not valid/,
    field: 'repo',
  },
];

/** What a surface answered: the code, the field to blame and the sentence. */
interface Refusal {
  code: unknown;
  field: unknown;
  sentence: unknown;
}

/** A REST answer as a refusal; it must be 400 with `{error, code, field?}`. */
function fromRest(answer: { status: number; body: Record<string, unknown> }): Refusal {
  expect(answer.status).toBe(400);
  expect(Object.keys(answer.body).sort()).toEqual(answer.body.field === undefined ? ['code', 'error'] : ['code', 'error', 'field']);
  return { code: answer.body.code, field: answer.body.field, sentence: answer.body.error };
}

/** A tool result as a refusal; it must be an error result whose text, structuredContent and _meta agree. */
function fromMcp(raw: unknown): Refusal {
  const result = coordResult(raw);
  expect(result.isError).toBe(true);
  const meta = result.meta?.['stonegate/error'] as { code?: unknown; field?: unknown } | undefined;
  expect(result.text).toBe(`${String(meta?.code)}: ${String(result.body.error)}`);
  expect(result.body).toEqual({ error: result.body.error, code: meta?.code, ...(meta?.field === undefined ? {} : { field: meta.field }) });
  return { code: meta?.code, field: meta?.field, sentence: result.body.error };
}

/** The query string of a GET case (its arguments are scalars). */
const query = (args: Record<string, unknown>): string => new URLSearchParams(Object.entries(args).map(([k, v]): [string, string] => [k, String(v)])).toString();

const dir = mkdtempSync(join(tmpdir(), 'issue-21-input-'));
let gw: RunningGateway;
let coord: RunningCoord;
let viaGateway: Client;
let standalone: Client;
let stdio: Client;

const http = async (url: string): Promise<Client> => {
  const client = new Client({ name: 'issue-21', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  return client;
};

beforeAll(async () => {
  gw = await startGateway(coordToml());
  await coordReady(gw);
  coord = await startCoord(join(dir, 'http.db'));
  viaGateway = await http(gw.url);
  standalone = await http(coord.url);
  stdio = new Client({ name: 'issue-21', version: '1' });
  await stdio.connect(new StdioClientTransport({ command: process.execPath, args: [MAIN, '--stdio', '--db', join(dir, 'stdio.db')], stderr: 'ignore' }));
});
afterAll(async () => {
  await Promise.all([viaGateway, standalone, stdio].map((c) => c?.close()));
  await stopGateways();
  await stopCoords();
  rmSync(dir, { recursive: true, force: true });
});

describe('issue 21.2: the same mistake gets the same code, field and sentence on every surface', () => {
  it.each(CASES)('$tool $args', async (c) => {
    const [method, path] = c.route.split(' ') as ['GET' | 'POST', string];
    const url = method === 'GET' ? `${path}?${query(c.args)}` : path;
    const body = method === 'POST' ? c.args : undefined;
    const answers: Record<string, Refusal> = {
      'gateway REST': fromRest(await gw.request(method, `/coord${url}`, body)),
      'standalone REST': fromRest(method === 'POST' ? await coord.post(url, body) : await coord.get(url)),
      'gateway MCP': fromMcp(await viaGateway.callTool({ name: `coord__${c.tool}`, arguments: c.args })),
      'standalone MCP': fromMcp(await standalone.callTool({ name: c.tool, arguments: c.args })),
      'stdio MCP': fromMcp(await stdio.callTool({ name: c.tool, arguments: c.args })),
    };
    const expected = { code: 'BAD_REQUEST', field: c.field, sentence: typeof c.sentence === 'string' ? c.sentence : expect.stringMatching(c.sentence) };
    for (const [surface, refusal] of Object.entries(answers)) expect({ surface, ...refusal }).toEqual({ surface, ...expected });
    // One sentence, word for word, on every surface.
    expect(new Set(Object.values(answers).map((a) => a.sentence)).size).toBe(1);
  });

  it('nothing was written by the refused calls: the state key the misspelled expected_version aimed at is still unset', async () => {
    expect((await gw.request('GET', '/coord/state/get?key=k')).body).toMatchObject({ key: 'k', version: 0 });
    expect(coordResult(await standalone.callTool({ name: 'mux_state_get', arguments: { key: 'k' } })).body).toMatchObject({ version: 0 });
  });

  it('the gateway relays a bad coord call on POST /call as coord refused it, not with its own INVALID_ARGUMENTS', async () => {
    const answer = await gw.request('POST', '/call', {
      server: 'coord',
      tool: 'mux_task_post',
      arguments: { description: 'd', posted_by: 'p', priority: 1.5 },
    });
    expect(JSON.stringify(answer.body)).toContain("'priority' must be a whole number, not 1.5.");
    expect(JSON.stringify(answer.body)).not.toContain('INVALID_ARGUMENTS');
  });

  it("an async call to coord with a bad argument is accepted and ends with coord's refusal as its result", async () => {
    const accepted = await gw.request('POST', '/call/async', { server: 'coord', tool: 'mux_send', arguments: { from: 7, to: 'b', content: 'x' } });
    expect(accepted.status).toBe(202);
    const done = await gw.request('GET', `/call/${String(accepted.body.call_id)}?wait_ms=10000`);
    expect(done.body.result).toMatchObject({
      isError: true,
      structuredContent: { code: 'BAD_REQUEST', field: 'from', error: "Invalid request: 'from' must be text, not 7." },
    });
  });

  it('tools/list says no other field is taken (additionalProperties: false), standalone and behind the gateway', async () => {
    const alone = (await standalone.listTools()).tools.find((t) => t.name === 'mux_state_set');
    const behind = (await viaGateway.listTools()).tools.find((t) => t.name === 'coord__mux_state_set');
    for (const tool of [alone, behind]) {
      expect(tool?.inputSchema).toMatchObject({ type: 'object', required: ['key', 'value'], additionalProperties: false });
      expect(Object.keys(tool?.inputSchema.properties ?? {})).toEqual(['key', 'value', 'channel', 'expected_version', 'updated_by']);
    }
  });

  it('well-formed calls still work on every surface', async () => {
    const register = { agent_id: 'ok-agent', role: 'r', capabilities: ['x'] };
    expect(coordResult(await viaGateway.callTool({ name: 'coord__mux_register', arguments: register })).isError).toBe(false);
    expect(coordResult(await standalone.callTool({ name: 'mux_register', arguments: register })).isError).toBe(false);
    expect(coordResult(await stdio.callTool({ name: 'mux_register', arguments: register })).isError).toBe(false);
    expect((await gw.request('GET', '/coord/msg/poll?agent_id=ok-agent&timeout=0')).status).toBe(200);
    expect((await coord.post('/task/post', { description: 'd', posted_by: 'ok-agent', priority: 2 })).status).toBe(200);
  });
});
