import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { importJWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { demoBackend, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';
import { type AuthServer, startAuthServer } from '../helpers/oidc.js';
import { runCli } from '../helpers/run-cli.js';

/*
 * Issue #28 item 2: named views (virtual servers). A [[views]] entry's
 * servers, include/exclude globs, renames and descriptions take effect in
 * tools/list (both eras), gate_discover and REST ?view=; an excluded tool
 * cannot be called through the view by any route (tools/call, gate_call,
 * gate_call_async, 2025 tasks, the 2026 Tasks extension, REST /call), a
 * renamed tool answers to its new name only; a token bound to a view sees
 * only it; config errors name the view and the key.
 */

const V = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';
const BOUND = 'views-reviewer-token-7c1e9a';
const ROOT_TOKEN = 'views-root-token-3b8d20';

const VIEWS = `
[[views]]
name = "reviewer"
servers = ["demo"]
include = ["demo__*"]
exclude = ["demo__sleep", "demo__cr?sh"]

[views.tools.demo__echo]
name = "say"
description = "Repeats the text, for the reviewer."

[views.tools.demo__add]
description = "Adds two numbers, for the reviewer."

[[views]]
name = "lookup"
servers = ["other"]
include = ["other__echo", "other__add"]
expose = "meta"
`;

const CONFIG = `${demoBackend()}
task_tools = ["sleep", "echo"]

${demoBackend('other')}
${VIEWS}`;

const AUTHED = `${CONFIG}
[auth]
[[auth.tokens]]
name = "root"
role = "admin"
token = "\${VIEWS_ROOT}"

[[auth.tokens]]
name = "reviewer-bot"
token = "\${VIEWS_BOUND}"
view = "reviewer"
`;

let open: RunningGateway;
let authed: RunningGateway;
const clients: Client[] = [];

beforeAll(async () => {
  [open, authed] = await Promise.all([startGateway(CONFIG), startGateway(AUTHED, { env: { VIEWS_ROOT: ROOT_TOKEN, VIEWS_BOUND: BOUND } })]);
  for (const gw of [open, authed]) {
    for (const name of ['demo', 'other']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
  }
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

async function connect(gw: RunningGateway, era: 'modern' | 'legacy', path: string, token?: string): Promise<Client> {
  const options = era === 'modern' ? { versionNegotiation: { mode: { pin: V } } } : {};
  const client = new Client({ name: `views-${era}`, version: '1' }, options as ConstructorParameters<typeof Client>[1]);
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}${path}`), { requestInit: { headers } }));
  clients.push(client);
  expect(client.getProtocolEra()).toBe(era);
  return client;
}

interface Answer {
  status: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

/** One raw 2026-07-28 request (declaring the Tasks extension), as 25-tasks does. */
async function rpc(gw: RunningGateway, path: string, method: string, params: Record<string, unknown>, token?: string): Promise<Answer> {
  const name = params.name;
  const response = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': V,
      'mcp-method': method,
      ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': V,
          'io.modelcontextprotocol/clientInfo': { name: 'views-test', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': { extensions: { [EXT]: {} } },
        },
      },
    }),
  });
  return { status: response.status, ...((await response.json()) as Omit<Answer, 'status'>) };
}

async function rest(
  gw: RunningGateway,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gw.url}${path}`, {
    method,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const text = (result: unknown): string => ((result as { content?: { text?: string }[] }).content ?? [])[0]?.text ?? '';
const REVIEWER_TOOLS = ['demo__add', 'demo__elicit', 'demo__fail', 'demo__large', 'demo__log', 'demo__pid', 'demo__roots', 'demo__sample', 'say'];

describe('issue 28.2: views (virtual servers)', () => {
  it('tools/list shows the view: include, exclude, servers, rename and description, on both eras and both URLs', async () => {
    for (const [era, path] of [
      ['legacy', '/mcp?view=reviewer'],
      ['legacy', '/views/reviewer/mcp'],
      ['modern', '/mcp?view=reviewer'],
      ['modern', '/views/reviewer/mcp'],
    ] as const) {
      const client = await connect(open, era, path);
      const tools = (await client.listTools()).tools;
      const proxied = tools.filter((t) => !t.name.startsWith('gate_'));
      expect(
        proxied.map((t) => t.name),
        `${era} ${path}`,
      ).toEqual(REVIEWER_TOOLS);
      expect(proxied.find((t) => t.name === 'say')?.description).toBe('Repeats the text, for the reviewer.');
      expect(proxied.find((t) => t.name === 'demo__add')?.description).toBe('Adds two numbers, for the reviewer.');
      expect(tools.some((t) => t.name === 'gate_call')).toBe(true);
    }
    // Without a view: everything, under the exposed names.
    const plain = await connect(open, 'legacy', '/mcp');
    const names = (await plain.listTools()).tools.map((t) => t.name);
    expect(names).toContain('demo__echo');
    expect(names).toContain('other__echo');
  });

  // Starts a third gateway (6 s at load 10): bound at 90 s rather than vitest's 30 s default.
  it('the legacy HTTP+SSE transport and [gateway] mcp_sessions = "stateless" serve views too', { timeout: 90_000 }, async () => {
    const sse = new Client({ name: 'views-sse', version: '1' });
    await sse.connect(new SSEClientTransport(new URL(`${open.url}/sse?view=reviewer`)));
    clients.push(sse);
    expect((await sse.listTools()).tools.filter((t) => !t.name.startsWith('gate_')).map((t) => t.name)).toEqual(REVIEWER_TOOLS);
    await expect(sse.callTool({ name: 'demo__sleep', arguments: { ms: 1 } })).rejects.toMatchObject({ code: -32602 });

    const stateless = await startGateway(`[gateway]\nmcp_sessions = "stateless"\n\n${CONFIG}`);
    await stateless.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
    const client = await connect(stateless, 'legacy', '/views/reviewer/mcp');
    expect((await client.listTools()).tools.filter((t) => !t.name.startsWith('gate_')).map((t) => t.name)).toEqual(REVIEWER_TOOLS);
    await expect(client.callTool({ name: 'demo__sleep', arguments: { ms: 1 } })).rejects.toMatchObject({ code: -32602 });
    expect(text(await client.callTool({ name: 'say', arguments: { text: 'stateless' } }))).toContain('stateless');
    await stateless.stop();
  });

  it('a view is private to 2026-07-28 caches even with auth off', async () => {
    const viewed = await connect(open, 'modern', '/views/reviewer/mcp');
    expect(((await viewed.listTools(undefined, { cacheMode: 'bypass' })) as { cacheScope?: string }).cacheScope).toBe('private');
    const plain = await connect(open, 'modern', '/mcp');
    expect(((await plain.listTools(undefined, { cacheMode: 'bypass' })) as { cacheScope?: string }).cacheScope).toBe('public');
  });

  it('an excluded tool is refused on every route of the view', async () => {
    for (const era of ['legacy', 'modern'] as const) {
      const client = await connect(open, era, '/mcp?view=reviewer');
      await expect(client.callTool({ name: 'demo__sleep', arguments: { ms: 1 } }), era).rejects.toMatchObject({ code: -32602 });
      await expect(client.callTool({ name: 'other__echo', arguments: { text: 'x' } }), era).rejects.toMatchObject({ code: -32602 });
      for (const gate of ['gate_call', 'gate_call_async']) {
        const refused = await client.callTool({ name: gate, arguments: { server: 'demo', tool: 'sleep', arguments: { ms: 1 } } });
        expect(refused.isError, `${era} ${gate}`).toBe(true);
        expect(text(refused)).toContain('FORBIDDEN');
        const elsewhere = await client.callTool({ name: gate, arguments: { server: 'other', tool: 'echo', arguments: { text: 'x' } } });
        expect(elsewhere.isError, `${era} ${gate} other`).toBe(true);
      }
    }
    // 2025 tasks: a task-augmented tools/call of the excluded tool.
    const legacy = await connect(open, 'legacy', '/views/reviewer/mcp');
    await expect(
      legacy.request({ method: 'tools/call', params: { name: 'demo__sleep', arguments: { ms: 1 }, task: { ttl: 60_000 } } }, z.looseObject({})),
    ).rejects.toMatchObject({ code: -32602 });
    // The 2026 Tasks extension (sleep is a task tool of demo): refused, while outside the view it becomes a task.
    const modern = await rpc(open, '/views/reviewer/mcp', 'tools/call', { name: 'demo__sleep', arguments: { ms: 1 } });
    expect(modern.error?.code).toBe(-32602);
    const outside = await rpc(open, '/mcp', 'tools/call', { name: 'demo__sleep', arguments: { ms: 1 } });
    expect(outside.result?.resultType).toBe('task');
    // REST with ?view=: FORBIDDEN.
    for (const route of ['/call', '/call/async']) {
      const refused = await rest(open, 'POST', `${route}?view=reviewer`, { server: 'demo', tool: 'sleep', arguments: { ms: 1 } });
      expect(refused.status, route).toBe(403);
      expect(refused.body.code).toBe('FORBIDDEN');
    }
  });

  it('a renamed tool answers to its new name only, through tools/call, gate_call, tasks and REST', async () => {
    for (const era of ['legacy', 'modern'] as const) {
      const client = await connect(open, era, '/views/reviewer/mcp');
      expect(text(await client.callTool({ name: 'say', arguments: { text: 'hi' } })), era).toContain('hi');
      await expect(client.callTool({ name: 'demo__echo', arguments: { text: 'hi' } }), era).rejects.toMatchObject({ code: -32602 });
      expect(text(await client.callTool({ name: 'gate_call', arguments: { server: 'demo', tool: 'say', arguments: { text: 'yo' } } }))).toContain('yo');
      const original = await client.callTool({ name: 'gate_call', arguments: { server: 'demo', tool: 'echo', arguments: { text: 'yo' } } });
      expect(original.isError).toBe(true);
      expect(text(original)).toContain('UNKNOWN_TOOL');
    }
    // The Tasks extension runs the renamed task tool by its new name.
    expect((await rpc(open, '/views/reviewer/mcp', 'tools/call', { name: 'say', arguments: { text: 'hi' } })).result?.resultType).toBe('task');
    const called = await rest(open, 'POST', '/call?view=reviewer', { server: 'demo', tool: 'say', arguments: { text: 'rest' } });
    expect(called.status).toBe(200);
    expect(JSON.stringify(called.body)).toContain('rest');
    const unknown = await rest(open, 'POST', '/call?view=reviewer', { server: 'demo', tool: 'echo', arguments: { text: 'rest' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('UNKNOWN_TOOL');
  });

  it('gate_discover, REST /tools?view= and /discover?view= search only the view, with its names and descriptions', async () => {
    const client = await connect(open, 'legacy', '/views/reviewer/mcp');
    const found = (await client.callTool({ name: 'gate_discover', arguments: { query: 'repeats text' } })).structuredContent as {
      tools: { exposed_name: string; description: string; server: string }[];
    };
    expect(found.tools[0]).toMatchObject({ exposed_name: 'say', description: 'Repeats the text, for the reviewer.', server: 'demo' });
    expect(found.tools.every((t) => t.server === 'demo' && t.exposed_name !== 'demo__echo' && t.exposed_name !== 'demo__sleep')).toBe(true);

    // A meta view lists the gate tools only; gate_discover finds its two tools and nothing else.
    const meta = await connect(open, 'modern', '/mcp?view=lookup');
    expect((await meta.listTools()).tools.every((t) => t.name.startsWith('gate_'))).toBe(true);
    const all = (await meta.callTool({ name: 'gate_discover', arguments: {} })).structuredContent as { tools: { exposed_name: string }[] };
    expect(all.tools.map((t) => t.exposed_name).sort()).toEqual(['other__add', 'other__echo']);

    const listed = await rest(open, 'GET', '/tools?view=reviewer');
    expect((listed.body.tools as { exposed_name: string }[]).map((t) => t.exposed_name).sort()).toEqual(REVIEWER_TOOLS);
    const discovered = await rest(open, 'GET', '/discover?view=reviewer&q=echo');
    const hits = discovered.body.tools as { exposed_name: string; description: string }[];
    expect(hits.map((t) => t.exposed_name)).toEqual(['say']);
    expect((await rest(open, 'GET', '/tools?view=nope')).body.code).toBe('UNKNOWN_VIEW');
  });

  it('a token bound to a view sees only that view: by default, and refused any other', async () => {
    for (const era of ['legacy', 'modern'] as const) {
      const client = await connect(authed, era, '/mcp', BOUND);
      const names = (await client.listTools()).tools.map((t) => t.name).filter((n) => !n.startsWith('gate_'));
      expect(names, era).toEqual(REVIEWER_TOOLS);
      await expect(client.callTool({ name: 'demo__sleep', arguments: { ms: 1 } }), era).rejects.toMatchObject({ code: -32602 });
    }
    const other = await rpc(authed, '/mcp?view=lookup', 'tools/list', {}, BOUND);
    expect(other.status).toBe(403);
    expect(JSON.stringify(other)).toContain('bound to view');
    expect((await rpc(authed, '/views/lookup/mcp', 'tools/list', {}, BOUND)).status).toBe(403);
    expect((await rpc(authed, '/mcp/demo', 'tools/list', {}, BOUND)).status).toBe(403);
    // REST: the bound view applies without ?view=.
    const tools = await rest(authed, 'GET', '/tools', undefined, BOUND);
    expect((tools.body.tools as { exposed_name: string }[]).map((t) => t.exposed_name).sort()).toEqual(REVIEWER_TOOLS);
    expect((await rest(authed, 'POST', '/call', { server: 'demo', tool: 'sleep', arguments: { ms: 1 } }, BOUND)).status).toBe(403);
    expect((await rest(authed, 'POST', '/call', { server: 'demo', tool: 'say', arguments: { text: 'b' } }, BOUND)).status).toBe(200);
    const listed = await rest(authed, 'GET', '/server/list', undefined, BOUND);
    expect((listed.body.servers as { name: string }[]).map((b) => b.name)).toEqual(['demo']);
    // An unbound token still sees everything.
    const root = await rest(authed, 'GET', '/tools', undefined, ROOT_TOKEN);
    expect((root.body.tools as { exposed_name: string }[]).some((t) => t.exposed_name === 'other__echo')).toBe(true);
  });

  // Six `stonegate check` processes: each loads the CLI, seconds apiece on a loaded machine (25 s in all at
  // load 10, one after the other). They run at once, and the test's bound is not vitest's 30 s default: how
  // long they take is not what the test checks.
  it('config errors name the view and the key', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-views-'));
    const cases: [string, string][] = [
      ['[[views]]\nname = "v"\nservers = ["ghost"]', "view 'v': unknown backend 'ghost'"],
      ['[[views]]\nname = "v"\n[views.tools.demo__echo]\nname = "x"\n[views.tools.demo__add]\nname = "x"', "view 'v': 'x' is also the name of"],
      ['[[views]]\nname = "v"\n[views.tools.demo__echo]\nname = "bad name!"', "views[0].tools.demo__echo.name: view 'v': 'bad name!' is no tool name"],
      ['[[views]]\nname = "v"\ninclude = ["demo__[a]"]', "views[0].include[0]: view 'v': invalid glob 'demo__[a]'"],
      ['[[views]]\nname = "v"\n[views.tools.demo__echo]\nname = "gate_call"', "'gate_call' is a gateway tool's name"],
      [
        '[auth]\n[[auth.tokens]]\nname = "t"\nhash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"\nview = "ghost"',
        "no [[views]] entry is named 'ghost'",
      ],
    ];
    const runs = await Promise.all(
      cases.map(([toml], i) => {
        const file = join(dir, `stonegate-${i}.toml`);
        writeFileSync(file, `${demoBackend()}\n${toml}\n`);
        return runCli(['check', '-c', file]);
      }),
    );
    for (const [i, [toml, message]] of cases.entries()) {
      const run = runs[i];
      expect(run?.code, toml).not.toBe(0);
      expect(`${run?.stdout}${run?.stderr}`, toml).toContain(message);
    }
  });
});

describe('issue 28.2: [auth.oauth] view_claim binds an OAuth token to a view', () => {
  let idp: AuthServer;
  let gw: RunningGateway;
  beforeAll(async () => {
    idp = await startAuthServer();
    gw = await startGateway(
      `${CONFIG}\n[auth]\n[[auth.tokens]]\nname = "root"\nrole = "admin"\ntoken = "\${VIEWS_ROOT}"\n[auth.oauth]\nissuer = "${idp.issuer}"\nview_claim = "stonegate_view"\n`,
      { env: { VIEWS_ROOT: ROOT_TOKEN } },
    );
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'demo');
  });
  afterAll(async () => {
    await idp?.close();
  });

  /** An access token as the provider would mint it for this gateway, with `claims` over the usual ones. */
  async function mint(claims: JWTPayload): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = { iss: idp.issuer, aud: `${gw.url}/mcp`, sub: 'viewer', scope: 'stonegate:agent', iat: now, exp: now + 300, ...claims };
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: idp.privateJwk.kid ?? '', typ: 'at+jwt' })
      .sign(await importJWK(idp.privateJwk, 'RS256'));
  }

  it('a token whose claim names a view sees only it; without the claim, every tool', async () => {
    const bound = await mint({ stonegate_view: 'reviewer' });
    const listed = await rest(gw, 'GET', '/tools', undefined, bound);
    expect((listed.body.tools as { exposed_name: string }[]).map((t) => t.exposed_name).sort()).toEqual(REVIEWER_TOOLS);
    expect((await rpc(gw, '/views/lookup/mcp', 'tools/list', {}, bound)).status).toBe(403);
    const modern = await rpc(gw, '/mcp', 'tools/call', { name: 'demo__sleep', arguments: { ms: 1 } }, bound);
    expect(modern.error?.code).toBe(-32602);
    const free = await rest(gw, 'GET', '/tools', undefined, await mint({}));
    expect((free.body.tools as { exposed_name: string }[]).some((t) => t.exposed_name === 'other__echo')).toBe(true);
    expect((await rest(gw, 'GET', '/tools', undefined, await mint({ stonegate_view: 'ghost' }))).body.code).toBe('UNKNOWN_VIEW');
  });
});
