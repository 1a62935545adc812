import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { coordReady, coordResult, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { startCoord, stopAll as stopCoords } from '../helpers/coord-standalone.js';
import { eventually, fixture, q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue 21 item 1: a mux_poll without `after` takes messages at most once,
 * so a poll whose client is gone must end, consuming nothing, as soon as
 * the response it would answer on is gone. Each test starts a poll from a
 * client process, SIGKILLs it mid-poll, waits until the server shows the
 * call ended, sends a message, and checks that the agent's next poll (a new
 * client) gets it. Before the fix the dead poll kept waiting and took the
 * message.
 */

const sessions = new SessionSet();
const clients = new Set<ChildProcess>();
const scratch = mkdtempSync(join(tmpdir(), 'stonegate-dead-poll-'));
afterEach(async () => {
  for (const child of clients) child.kill('SIGKILL');
  clients.clear();
  await sessions.closeAll();
});
afterAll(async () => {
  await stopAll();
  await stopCoords();
  rmSync(scratch, { recursive: true, force: true });
});

/** Starts test/fixtures/poll-client.ts calling `tool`; resolves once the server has the request. */
async function pollingClient(url: string, kind: 'http' | 'sse', tool: string, args: Record<string, unknown>, flags: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fixture('poll-client'), url, kind, tool, JSON.stringify(args), flags.join(',')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  clients.add(child);
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"sent"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`poll client exited (${code}) before its call was sent`)));
  });
  return child;
}

/** Calls in flight on `backend`'s pool, from GET /server/list. */
async function inflight(gw: RunningGateway, backend: string): Promise<number> {
  const rows = (await gw.request('GET', '/server/list')).body.servers as { name: string; pool: { inflight: number } }[];
  return rows.find((r) => r.name === backend)?.pool.inflight ?? -1;
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Registers the polling agent and a sender over REST. */
async function agents(gw: RunningGateway, agent: string): Promise<void> {
  await rest(gw, 'POST', '/agent/register', { agent_id: agent, role: 'worker' });
  await rest(gw, 'POST', '/agent/register', { agent_id: `${agent}-sender`, role: 'lead' });
}

/** Sends one message to `agent`, then polls as `agent` from a new session: the message must be there. */
async function nextPollGetsIt(gw: RunningGateway, agent: string): Promise<void> {
  await rest(gw, 'POST', '/msg/send', { from: `${agent}-sender`, to: agent, content: 'after the crash' });
  const fresh = await sessions.open(gw.url);
  const polled = await fresh.ok('mux_poll', { agent_id: agent, timeout: 0 });
  expect((polled.messages as { content: string }[]).map((m) => m.content)).toEqual(['after the crash']);
}

/** A gateway of its own for each test: a call left running by one test must not hide another's. */
async function coordGateway(): Promise<RunningGateway> {
  const gw = await startGateway(coordToml());
  await coordReady(gw);
  return gw;
}

describe('a poll whose client is gone ends without consuming (gateway)', () => {
  for (const [label, kind, progress] of [
    ['Streamable HTTP, JSON answer', 'http', false],
    ['Streamable HTTP, SSE answer (progressToken)', 'http', true],
    ['legacy HTTP+SSE', 'sse', false],
  ] as const) {
    it(`${label}: a client SIGKILLed mid-poll does not swallow the next message`, async () => {
      const gw = await coordGateway();
      const agent = `dead-${kind}-${progress ? 'sse' : 'json'}`;
      await agents(gw, agent);
      const child = await pollingClient(`${gw.url}/${kind === 'sse' ? 'sse' : 'mcp'}`, kind, 'coord__mux_poll', { agent_id: agent, timeout: 100 }, [
        progress ? 'progress' : 'json-answer',
      ]);
      await eventually(async () => (await inflight(gw, 'coord')) === 1);
      await killed(child);
      // The gateway cancels the backend call as soon as the client's connection is gone.
      await eventually(async () => (await inflight(gw, 'coord')) === 0);
      await nextPollGetsIt(gw, agent);
      await gw.stop('SIGKILL');
    });
  }

  it('stateless MCP ([gateway] mcp_sessions = "stateless"): a client SIGKILLed mid-poll does not swallow the next message', async () => {
    const gw = await startGateway(coordToml({}, '[gateway]\nmcp_sessions = "stateless"\n'));
    await coordReady(gw);
    const agent = 'dead-stateless';
    await agents(gw, agent);
    const child = await pollingClient(`${gw.url}/mcp`, 'http', 'coord__mux_poll', { agent_id: agent, timeout: 100 }, ['json-answer']);
    await eventually(async () => (await inflight(gw, 'coord')) === 1);
    await killed(child);
    await eventually(async () => (await inflight(gw, 'coord')) === 0);
    await nextPollGetsIt(gw, agent);
    await gw.stop('SIGKILL');
  });

  it('a session deleted mid-poll ends the poll', async () => {
    const gw = await coordGateway();
    const agent = 'dead-deleted';
    await agents(gw, agent);
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`));
    const client = new Client({ name: 'deleter', version: '1.0.0' }, { capabilities: {} });
    await client.connect(transport);
    const polling = client.callTool({ name: 'coord__mux_poll', arguments: { agent_id: agent, timeout: 100 } }, { timeout: 600_000 }).catch(() => 'ended');
    await eventually(async () => (await inflight(gw, 'coord')) === 1);
    await transport.terminateSession();
    await eventually(async () => (await inflight(gw, 'coord')) === 0);
    await nextPollGetsIt(gw, agent);
    await client.close();
    expect(await polling).toBe('ended');
    await gw.stop('SIGKILL');
  });
});

describe('a call whose client is gone is cancelled on any backend', () => {
  it('a hanging tool of a stdio backend is cancelled when its Streamable HTTP client is SIGKILLed', async () => {
    const gw = await startGateway(`[[backends]]\nname = "hang"\ncommand = "node"\nargs = [${q(fixture('hang-server'))}]\n`);
    await gw.waitForLog((l) => l.msg === 'backend ready' && l.backend === 'hang');
    const child = await pollingClient(`${gw.url}/mcp`, 'http', 'hang__hang', {}, ['json-answer']);
    await eventually(async () => (await inflight(gw, 'hang')) === 1);
    await killed(child);
    await eventually(async () => (await inflight(gw, 'hang')) === 0);
    await gw.stop();
  });
});

describe('a poll whose client is gone ends without consuming (standalone)', () => {
  it('a client SIGKILLed mid-poll on /mcp does not swallow the next message', async () => {
    const coord = await startCoord(join(scratch, 'standalone.db'), [], { env: { COORD_LOG_LEVEL: 'debug' } });
    expect((await coord.post('/agent/register', { agent_id: 'solo', role: 'worker' })).status).toBe(200);
    expect((await coord.post('/agent/register', { agent_id: 'solo-sender', role: 'lead' })).status).toBe(200);
    const child = await pollingClient(`${coord.url}/mcp`, 'http', 'mux_poll', { agent_id: 'solo', timeout: 100 });
    await killed(child);
    // The server says so when it cancels a request whose stream closed.
    await eventually(() => coord.stderr.some((line) => line.includes('response stream closed')));
    expect((await coord.post('/msg/send', { from: 'solo-sender', to: 'solo', content: 'after the crash' })).status).toBe(200);
    const client = new Client({ name: 'fresh', version: '1.0.0' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${coord.url}/mcp`)));
    const polled = coordResult(await client.callTool({ name: 'mux_poll', arguments: { agent_id: 'solo', timeout: 0 } }));
    await client.close();
    expect((polled.body.messages as { content: string }[]).map((m) => m.content)).toEqual(['after the crash']);
    await coord.stop();
  });
});
