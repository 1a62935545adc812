import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, processesWithMarker, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #23 items 5 and 6: identity without sessions, and what a backend
 * asks of a 2026-07-28 caller. `solo` is the demo backend with a process per
 * client (affinity = "session"), `demo` the same program shared. With auth, a
 * modern client's calls to `solo` run in its token's own process; without
 * auth they are refused (never a shared process). A backend's sampling
 * request during a modern call is refused toward the backend at once when
 * the caller did not declare sampling (else asked, issue 24), and
 * its log messages reach the caller only at the `_meta` logLevel asked for.
 */

// One marker per gateway: each counts its own `solo` processes in /proc.
const MARKER = `STONEGATE_IDENT26_${randomUUID().replaceAll('-', '')}`;
const OPEN_MARKER = `${MARKER}_OPEN`;
const TOKEN_A = 'ident26-token-a-5f1e';
const TOKEN_B = 'ident26-token-b-90c3';
const backends = (marker: string): string => `${demoBackend('solo')}
affinity = "session"
env = { ${marker} = "1" }

${demoBackend('demo')}
`;

const clients: Client[] = [];
const TOKENS = `
[auth]
[[auth.tokens]]
name = "agent-a"
token = "\${IDENT_A}"

[[auth.tokens]]
name = "agent-b"
token = "\${IDENT_B}"
`;
let authed: RunningGateway;
let open: RunningGateway;
/** With auth and a 1 s session_idle_timeout, for the reaping of a token's process. */
let brief: RunningGateway;

beforeAll(async () => {
  const env = { IDENT_A: TOKEN_A, IDENT_B: TOKEN_B };
  authed = await startGateway(`${backends(MARKER)}${TOKENS}`, { env });
  open = await startGateway(backends(OPEN_MARKER));
  brief = await startGateway(`[gateway]\nsession_idle_timeout = 1\n\n${backends(`${MARKER}_BRIEF`)}${TOKENS}`, { env });
  for (const gw of [authed, open, brief]) for (const name of ['solo', 'demo']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(stopAll);

async function connect(gw: RunningGateway, era: 'modern' | 'legacy', token?: string, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const options = { capabilities, ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}) };
  const client = new Client({ name: `ident26-${era}`, version: '1' }, options as ConstructorParameters<typeof Client>[1]);
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers } }));
  expect(client.getProtocolEra()).toBe(era);
  clients.push(client);
  return client;
}

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;
const pidOf = async (client: Client, tool = 'solo__pid'): Promise<number> => Number(text(await client.callTool({ name: tool, arguments: {} })));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('issue 23.5: affinity = "session" backends and 2026-07-28 clients', () => {
  it("with auth, a token's modern calls run in that token's own process; another token never shares it", async () => {
    const a1 = await connect(authed, 'modern', TOKEN_A);
    const a2 = await connect(authed, 'modern', TOKEN_A);
    const b = await connect(authed, 'modern', TOKEN_B);
    const pidA = await pidOf(a1);
    expect(await pidOf(a1)).toBe(pidA);
    // Another client with the same token (no session in between) is the same principal.
    expect(await pidOf(a2)).toBe(pidA);
    const pidB = await pidOf(b);
    expect(pidB).not.toBe(pidA);
    expect(text(await b.callTool({ name: 'gate_call', arguments: { server: 'solo', tool: 'pid' } }))).toBe(String(pidB));
    // Neither is the shared process (which serves REST and listing).
    const shared = processesWithMarker(MARKER).filter((pid) => pid !== pidA && pid !== pidB);
    expect(shared.length).toBeGreaterThan(0);
    // A shared backend stays shared.
    expect(await pidOf(a1, 'demo__pid')).toBe(await pidOf(b, 'demo__pid'));
  });

  it('a 2025 session of the same token still gets a process of its own', async () => {
    const modern = await connect(authed, 'modern', TOKEN_A);
    const legacy = await connect(authed, 'legacy', TOKEN_A);
    const pidModern = await pidOf(modern);
    const pidLegacy = await pidOf(legacy);
    expect(pidLegacy).not.toBe(pidModern);
    expect(await pidOf(legacy)).toBe(pidLegacy);
  });

  it("a token's process ends after session_idle_timeout without a call", async () => {
    const b = await connect(brief, 'modern', TOKEN_B);
    const pid = await pidOf(b);
    await eventually(() => !alive(pid), 15_000);
    // The next call starts a new one.
    const next = await pidOf(b);
    expect(next).not.toBe(pid);
    expect(alive(next)).toBe(true);
  });

  it('without auth, a modern call to such a backend is refused with SESSION_AFFINITY_NEEDS_IDENTITY; shared backends and 2025 sessions work', async () => {
    const before = processesWithMarker(OPEN_MARKER).length;
    const modern = await connect(open, 'modern');
    const refused = (await modern.callTool({ name: 'solo__pid', arguments: {} })) as CallToolResult;
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/^SESSION_AFFINITY_NEEDS_IDENTITY: .*affinity = "session".*\[auth\].*initialize/);
    expect(refused._meta?.['stonegate/error']).toMatchObject({ code: 'SESSION_AFFINITY_NEEDS_IDENTITY' });
    // gate_call and resource reads are refused the same way.
    const viaGate = (await modern.callTool({ name: 'gate_call', arguments: { server: 'solo', tool: 'pid' } })) as CallToolResult;
    expect(text(viaGate)).toMatch(/^SESSION_AFFINITY_NEEDS_IDENTITY/);
    await expect(modern.readResource({ uri: 'stonegate://solo/demo://readme' })).rejects.toThrow(/SESSION_AFFINITY_NEEDS_IDENTITY/);
    expect(processesWithMarker(OPEN_MARKER).length).toBe(before);
    expect(text(await modern.callTool({ name: 'demo__echo', arguments: { text: 'shared' } }))).toBe('shared');
    const legacy = await connect(open, 'legacy');
    const own = await pidOf(legacy);
    expect(processesWithMarker(OPEN_MARKER)).toContain(own);
    expect(processesWithMarker(OPEN_MARKER).length).toBe(before + 1);
  });
});

describe('issue 23.6: a backend asks a 2026-07-28 caller during its call', () => {
  it('a modern client that does not declare sampling: the backend hears a refusal at once and the call ends', async () => {
    const client = await connect(open, 'modern');
    const result = (await client.callTool({ name: 'demo__sample', arguments: { prompt: 'hi' } })) as CallToolResult;
    // The demo tool reports the refusal it got as its own isError result.
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(
      /Sampling request to the client failed: .*stonegate refused sampling\/createMessage: .*did not declare the 'sampling' client capability/,
    );
  });

  it('a modern client that declares sampling is asked through input_required (issue 24, src/mcp/input-bridge.ts)', async () => {
    const client = await connect(open, 'modern', undefined, { sampling: {} });
    let asked = 0;
    client.setRequestHandler('sampling/createMessage', async () => {
      asked += 1;
      return { role: 'assistant', model: 'test', content: { type: 'text', text: 'sampled for a modern caller' } };
    });
    const result = (await client.callTool({ name: 'demo__sample', arguments: { prompt: 'hi' } })) as CallToolResult;
    expect(text(result)).toBe('sampled for a modern caller');
    expect(asked).toBe(1);
  });

  it("a backend's log messages reach a modern caller only at or above the request's logLevel", async () => {
    const client = await connect(open, 'modern');
    const seen: string[] = [];
    client.setNotificationHandler('notifications/message', async (n) => {
      seen.push(`${n.params.level}:${String(n.params.data)}`);
    });
    const log = (level: string, message: string, logLevel?: string) =>
      client.callTool({
        name: 'demo__log',
        arguments: { level, message },
        ...(logLevel === undefined ? {} : { _meta: { 'io.modelcontextprotocol/logLevel': logLevel } }),
      });
    expect(text(await log('warning', 'unasked'))).toBe('logged');
    expect(text(await log('info', 'below', 'warning'))).toBe('logged');
    expect(text(await log('warning', 'at', 'warning'))).toBe('logged');
    expect(text(await log('error', 'above', 'info'))).toBe('logged');
    expect(seen).toEqual(['warning:at', 'error:above']);
  });
});
