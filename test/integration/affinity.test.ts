import { randomUUID } from 'node:crypto';
import type { CallToolResult, Transport } from '@modelcontextprotocol/client';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, eventually, processesWithMarker, type RunningGateway, resultText, serverRow, startGateway, stopAll } from '../helpers/harness.js';

/*
 * affinity = "session" through the real gateway: `solo` is the demo backend
 * with a process per MCP session (at most 2 of them), `demo` the same
 * program shared. Every solo process carries MARKER in its environment, so
 * the test counts them in /proc.
 */

const MARKER = `STONEGATE_AFFINITY_${randomUUID().replaceAll('-', '')}`;

const CONFIG = `
${demoBackend('solo')}
affinity = "session"
env = { ${MARKER} = "1" }
pool = { max_session_connections = 2 }

${demoBackend('demo')}
`;

let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(CONFIG);
  for (const name of ['solo', 'demo']) await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
});
afterAll(stopAll);

const text = (result: unknown): string => ((result as CallToolResult).content[0] as { text: string }).text;

/** An MCP client that answers sampling requests with `<marker>:<prompt>`, once `gate` lets it. */
async function agent(marker: string, transport: Transport, gate: Promise<void> = Promise.resolve()): Promise<{ client: Client; asked: string[] }> {
  const client = new Client({ name: `agent-${marker}`, version: '1.0.0' }, { capabilities: { sampling: {} } });
  const asked: string[] = [];
  client.setRequestHandler('sampling/createMessage', async (request) => {
    const prompt = (request.params.messages[0]!.content as { text: string }).text;
    asked.push(prompt);
    await gate;
    return { role: 'assistant', model: 'test', content: { type: 'text', text: `${marker}:${prompt}` } };
  });
  await client.connect(transport);
  return { client, asked };
}

const streamable = (): StreamableHTTPClientTransport => new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`));

const pidOf = async (client: Client, tool: string): Promise<number> => Number(text(await client.callTool({ name: tool, arguments: {} })));

/** Ends a Streamable HTTP session the way a client should: DELETE, then close. */
async function end(client: Client): Promise<void> {
  await (client.transport as StreamableHTTPClientTransport).terminateSession();
  await client.close();
}

/** The pool gauges of a backend's /server/list row. */
const poolOf = async (g: RunningGateway, name: string): Promise<Record<string, number>> => (await serverRow(g, name)).pool as unknown as Record<string, number>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('affinity = "session"', () => {
  let a: Client;
  let b: Client;
  const asked = { a: [] as string[], b: [] as string[] };
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));

  it('gives each MCP session its own process, while a shared backend, REST and stateless callers share one', async () => {
    ({ client: a, asked: asked.a } = await agent('A', streamable(), gate));
    ({ client: b, asked: asked.b } = await agent('B', streamable(), gate));
    const soloShared = (await serverRow(gw, 'solo')).pid;
    const [soloA, soloB] = [await pidOf(a, 'solo__pid'), await pidOf(b, 'solo__pid')];
    expect(new Set([soloShared, soloA, soloB]).size).toBe(3);
    expect(await pidOf(a, 'solo__pid')).toBe(soloA);
    // gate_call from a session is that session's call too.
    expect(text(await b.callTool({ name: 'gate_call', arguments: { server: 'solo', tool: 'pid' } }))).toBe(String(soloB));
    // Resource reads of the session go to its process too (and come back as they would from a shared one).
    expect((await a.readResource({ uri: 'stonegate://solo/demo://readme' })).contents[0]?.uri).toBe('stonegate://solo/demo://readme');
    // REST has no MCP session: the shared process.
    expect(resultText((await gw.request('POST', '/call', { server: 'solo', tool: 'pid' })).body)).toBe(String(soloShared));
    const demo = (await serverRow(gw, 'demo')).pid;
    expect([await pidOf(a, 'demo__pid'), await pidOf(b, 'demo__pid')]).toEqual([demo, demo]);
    expect(processesWithMarker(MARKER).sort()).toEqual([soloShared, soloA, soloB].sort());
    expect(await poolOf(gw, 'solo')).toMatchObject({ size: 3, sessions: 2 });
    expect(await poolOf(gw, 'demo')).toMatchObject({ size: 1, sessions: 0 });
  });

  it('sends each sampling request to the session whose call made it, with several calls in flight per session', async () => {
    // Every answer waits until all four requests have arrived: the four calls are in flight together.
    const calls = [
      a.callTool({ name: 'solo__sample', arguments: { prompt: 'a1' } }),
      a.callTool({ name: 'solo__sample', arguments: { prompt: 'a2' } }),
      b.callTool({ name: 'solo__sample', arguments: { prompt: 'b1' } }),
      b.callTool({ name: 'solo__sample', arguments: { prompt: 'b2' } }),
    ];
    await eventually(() => asked.a.length + asked.b.length === 4);
    release();
    expect((await Promise.all(calls)).map(text)).toEqual(['A:a1', 'A:a2', 'B:b1', 'B:b2']);
    expect(asked.a.sort()).toEqual(['a1', 'a2']);
    expect(asked.b.sort()).toEqual(['b1', 'b2']);
  });

  it('refuses a sampling request on a shared backend while another agent’s call is in flight', async () => {
    const hold = new AbortController();
    const sleeping = a.callTool({ name: 'demo__sleep', arguments: { ms: 60_000 } }, { signal: hold.signal }).catch(() => undefined);
    await eventually(async () => (await poolOf(gw, 'demo')).inflight === 1);
    const sampled = await b.callTool({ name: 'demo__sample', arguments: { prompt: 'b3' } });
    hold.abort();
    await sleeping;
    expect(text(sampled)).toMatch(/^Sampling request to the client failed: .*cannot tell which agent/);
    expect(asked.b).not.toContain('b3');
  });

  it('refuses a session beyond max_session_connections with POOL_EXHAUSTED and starts no process for it', async () => {
    const before = processesWithMarker(MARKER).sort();
    expect(before).toHaveLength(3);
    const { client: c } = await agent('C', streamable());
    const refused = await c.callTool({ name: 'solo__pid', arguments: {} });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/^POOL_EXHAUSTED: .*max_session_connections = 2/);
    expect(processesWithMarker(MARKER).sort()).toEqual(before);
    // Other backends still serve the session.
    expect(await pidOf(c, 'demo__pid')).toBe((await serverRow(gw, 'demo')).pid);
    await end(c);
  });

  it('stops a session’s process when the session is deleted, and its room serves the next session', async () => {
    const soloA = await pidOf(a, 'solo__pid');
    const soloB = await pidOf(b, 'solo__pid');
    await end(a);
    await eventually(() => !alive(soloA));
    expect(alive(soloB)).toBe(true);
    const { client: c } = await agent('C', streamable());
    const soloC = await pidOf(c, 'solo__pid');
    expect([soloA, soloB]).not.toContain(soloC);
    await end(c);
    await eventually(() => !alive(soloC));
  });

  it('stops a legacy SSE session’s process when its stream closes', async () => {
    const { client: d } = await agent('D', new SSEClientTransport(new URL(`${gw.url}/sse`)));
    const soloD = await pidOf(d, 'solo__pid');
    expect(soloD).not.toBe((await serverRow(gw, 'solo')).pid);
    await d.close();
    await eventually(() => !alive(soloD));
    await end(b);
    await eventually(() => processesWithMarker(MARKER).length === 1);
    expect((await poolOf(gw, 'solo')).sessions).toBe(0);
  });
});

describe('affinity = "session" in stateless mode', () => {
  it('serves every POST on the shared process: without a session there is nothing to tie a process to', async () => {
    const stateless = await startGateway(`[gateway]\nmcp_sessions = "stateless"\n\n${CONFIG}`);
    try {
      await stateless.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'solo');
      const shared = (await serverRow(stateless, 'solo')).pid;
      const client = new Client({ name: 'stateless', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${stateless.url}/mcp`)));
      expect([await pidOf(client, 'solo__pid'), await pidOf(client, 'solo__pid')]).toEqual([shared, shared]);
      expect((await poolOf(stateless, 'solo')).size).toBe(1);
      await client.close();
    } finally {
      await stateless.stop();
    }
  });
});

describe('affinity = "session" for an http backend', () => {
  it('gives each MCP session an MCP session of its own with the remote server, ended with it', async () => {
    // The remote server is another gateway whose demo backend is per session
    // too: a demo process per remote session shows which session a call used.
    const remote = await startGateway(`${demoBackend('demo')}\naffinity = "session"\n`);
    await remote.waitForLog((l) => l.msg === 'backend ready');
    // A stonegate /mcp also serves 2026-07-28 (sessionless) clients, which `auto` would pick:
    // MCP sessions with the remote are the 2025 era's, so both entries are pinned to it.
    const local = await startGateway(`
[[backends]]
name = "own"
transport = "http"
url = ${JSON.stringify(`${remote.url}/mcp/demo`)}
affinity = "session"
# MCP sessions with the remote are the 2025 era's (a 2026-07-28 backend has none).
protocol = "2025-11-25"

[[backends]]
name = "shared"
transport = "http"
url = ${JSON.stringify(`${remote.url}/mcp/demo`)}
protocol = "2025-11-25"
`);
    try {
      for (const name of ['own', 'shared']) await local.waitForLog((l) => l.msg === 'backend ready' && l.backend === name);
      const transport = (): StreamableHTTPClientTransport => new StreamableHTTPClientTransport(new URL(`${local.url}/mcp`));
      const { client: a } = await agent('A', transport());
      const { client: b } = await agent('B', transport());
      const [ownA, ownB] = [await pidOf(a, 'own__pid'), await pidOf(b, 'own__pid')];
      const [sharedA, sharedB] = [await pidOf(a, 'shared__pid'), await pidOf(b, 'shared__pid')];
      expect(ownA).not.toBe(ownB);
      expect(sharedA).toBe(sharedB);
      expect(new Set([ownA, ownB, sharedA]).size).toBe(3);
      // Remote sessions that called the remote demo: the shared backend's connection, and one per local session of `own`.
      expect((await poolOf(remote, 'demo')).sessions).toBe(3);
      await end(a);
      await eventually(() => !alive(ownA));
      expect(alive(ownB)).toBe(true);
      expect(await pidOf(b, 'own__pid')).toBe(ownB);
      await end(b);
    } finally {
      await local.stop();
      await remote.stop();
    }
  });
});
