import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCoordToExit, startCoord, stopAll } from '../helpers/coord-standalone.js';
import { eventually } from '../helpers/harness.js';

/*
 * The standalone coordination server (`stonegate coord`) has no tokens, so
 * nothing but a cap stops one client from holding event streams or MCP
 * sessions until the process runs out of file descriptors or memory:
 * --max-streams and --max-sessions cap them, and one more is refused with
 * 429 RATE_LIMITED and Retry-After; --session-idle-timeout ends a session
 * its client forgot. These run the compiled server (npx tsc
 * -p tsconfig.json first) over real sockets.
 */

const dir = mkdtempSync(join(tmpdir(), 'coord-caps-'));
let dbs = 0;
const freshDb = (): string => join(dir, `coord-${dbs++}.db`);
afterEach(() => stopAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An open event stream: resolves once its headers arrive; `close` ends it from the client side. */
function openStream(url: string): Promise<{ status: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => {
      res.resume();
      const closed = new Promise<void>((done) => res.once('close', () => done()));
      resolve({
        status: res.statusCode ?? 0,
        close: () => {
          req.destroy();
          return closed;
        },
      });
    });
    req.once('error', reject);
    req.end();
  });
}

/** GET `url` until it answers 200 (a freed slot is counted free once the server sees the close), at most `tries` times. */
async function openWhenFree(url: string, tries = 50): Promise<{ status: number; close: () => Promise<void> }> {
  for (let i = 0; ; i++) {
    const stream = await openStream(url);
    if (stream.status === 200 || i >= tries) return stream;
    await stream.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('standalone coord server caps', () => {
  it('refuses an event stream over --max-streams with 429 RATE_LIMITED, on both spellings, and frees the slot when a stream closes', async () => {
    const coord = await startCoord(freshDb(), ['--max-streams', '2']);
    const first = await openStream(`${coord.url}/coord/events`);
    const second = await openStream(`${coord.url}/events`);
    expect([first.status, second.status]).toEqual([200, 200]);

    const refused = await fetch(`${coord.url}/coord/events`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { code: string; error: string };
    expect(body.code).toBe('RATE_LIMITED');
    expect(body.error).toMatch(/--max-streams 2/);
    expect((await fetch(`${coord.url}/events`)).status).toBe(429);
    // Other routes are not streams and are not counted.
    expect((await coord.get('/health')).status).toBe(200);

    await first.close();
    const third = await openWhenFree(`${coord.url}/coord/events`);
    expect(third.status).toBe(200);
    await Promise.all([second.close(), third.close()]);
  });

  it('refuses an MCP session over --max-sessions with 429 RATE_LIMITED, and takes one again after a session ends', async () => {
    const coord = await startCoord(freshDb(), ['--max-sessions', '1']);
    const first = new Client({ name: 'caps-test', version: '0.0.0' });
    const firstTransport = new StreamableHTTPClientTransport(new URL(`${coord.url}/mcp`));
    await first.connect(firstTransport);

    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
    };
    const refused = await fetch(`${coord.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(initialize),
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    const answer = (await refused.json()) as { error: { message: string; data: { code: string } } };
    expect(answer.error.data.code).toBe('RATE_LIMITED');
    expect(answer.error.message).toMatch(/--max-sessions 1/);
    // The open session still works.
    expect((await first.listTools()).tools.length).toBeGreaterThan(0);

    await firstTransport.terminateSession();
    await first.close();
    const second = new Client({ name: 'caps-test', version: '0.0.0' });
    await second.connect(new StreamableHTTPClientTransport(new URL(`${coord.url}/mcp`)));
    expect((await second.listTools()).tools.length).toBeGreaterThan(0);
    await second.close();
  });

  it('closes an MCP session idle for --session-idle-timeout, but not one whose long poll is still open', async () => {
    const coord = await startCoord(freshDb(), ['--session-idle-timeout', '0.3'], { env: { COORD_LOG_LEVEL: 'debug' } });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const post = (body: unknown, session?: string): Promise<Response> =>
      fetch(`${coord.url}/mcp`, {
        method: 'POST',
        headers: session === undefined ? headers : { ...headers, 'mcp-session-id': session },
        body: JSON.stringify(body),
      });
    const open = async (): Promise<string> => {
      const init = await post({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
      });
      const id = init.headers.get('mcp-session-id');
      await init.text();
      if (id === null) throw new Error('no session id');
      await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, id)).text();
      return id;
    };
    /** Resolves when the server logs that it closed `session` for idleness (a request would count as activity). */
    const closedIdle = (session: string): Promise<true> =>
      eventually(() => coord.stderr.some((line) => line.includes('mcp session closed: idle') && line.includes(session)) || undefined);
    const list = (session: string): Promise<Response> => post({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, session);

    const busy = await open();
    const idle = await open();
    await coord.post('/agent/register', { agent_id: 'waiter', role: 'r' });
    // A poll that waits 1.5 s, five idle timeouts: its session stays while it is open.
    const poll = post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'mux_poll', arguments: { agent_id: 'waiter', timeout: 1.5 } } }, busy);
    await closedIdle(idle);
    expect((await list(idle)).status).toBe(404);
    const answered = await poll;
    expect(answered.status).toBe(200);
    await answered.text();
    expect(coord.stderr.some((line) => line.includes('mcp session closed: idle') && line.includes(busy))).toBe(false);
    await closedIdle(busy);
    expect((await list(busy)).status).toBe(404);
  });

  it('refuses a cap that is not a whole number from 1 to 100000 with exit 2', async () => {
    for (const args of [
      ['--max-streams', '0'],
      ['--max-sessions', 'many'],
      ['--max-streams', '1.5'],
    ]) {
      const { code, stderr } = await runCoordToExit(['--port', '0', '--db', freshDb(), ...args]);
      expect(code).toBe(2);
      expect(stderr).toMatch(/is not a whole number from 1 to 100000/);
    }
    // `stonegate coord` passes the flags on as given.
    const viaCli = await runCoordToExit(['--port', '0', '--db', freshDb(), '--max-sessions', '0'], { cli: true });
    expect(viaCli.code).toBe(2);
    expect(viaCli.stderr).toMatch(/--max-sessions '0' is not a whole number/);
  });
});
