import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, eventually, ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #19 item 4: one token could hold every MCP session and open
 * streams without bound, so every other agent and the admin got 503 (and
 * enough streams exhausted the descriptors). Sessions and event streams
 * are now capped per client — a token, or with auth off a client address —
 * and a reserve of the global caps is kept for admin tokens.
 */

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'caps', version: '1' } },
});
const MCP = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on its own socket (optionally from another loopback address); the body is read whole. */
function send(url: string, method: string, path: string, headers: Record<string, string>, body?: string, localAddress?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = httpRequest({ host: target.hostname, port: target.port, path, method, headers, localAddress, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An event stream held open: its status (a refusal's body is read), and how to hang up. */
interface Held {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  close(): void;
}

function hold(url: string, path: string, headers: Record<string, string>, localAddress?: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = httpRequest(
      { host: target.hostname, port: target.port, path, headers: { accept: 'text/event-stream', ...headers }, localAddress, agent: false },
      (res) => {
        const close = (): void => void req.destroy();
        if (res.statusCode === 200) {
          res.once('data', () => resolve({ status: 200, headers: res.headers, body: '', close }));
          res.on('error', () => undefined);
          return;
        }
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, close }));
      },
    );
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const TOKENS = { a1: 'agent-one-0123456789abcdef', a2: 'agent-two-0123456789abcdef', a3: 'agent-three-0123456789abcd', ops: 'ops-admin-0123456789abcdef' };
const AUTH = Object.entries(TOKENS)
  .map(([name]) => `[[auth.tokens]]\nname = "${name}"\nrole = "${name === 'ops' ? 'admin' : 'agent'}"\ntoken = "\${CAPS_${name.toUpperCase()}}"\n`)
  .join('\n');
const ENV = Object.fromEntries(Object.entries(TOKENS).map(([name, token]) => [`CAPS_${name.toUpperCase()}`, token]));
/** A gateway with the four tokens (read from the environment). */
const withAuth = (toml: string): Promise<RunningGateway> => startGateway(`${toml}\n${AUTH}`, { env: ENV });

const held: Held[] = [];
afterEach(() => {
  for (const h of held.splice(0)) h.close();
});
afterAll(stopAll);

async function openSession(gw: RunningGateway, headers: Record<string, string>, localAddress?: string): Promise<Answer> {
  return send(gw.url, 'POST', '/mcp', { ...MCP, ...headers }, INIT, localAddress);
}

async function openStream(gw: RunningGateway, path: string, headers: Record<string, string>, localAddress?: string): Promise<Held> {
  const h = await hold(gw.url, path, headers, localAddress);
  held.push(h);
  return h;
}

describe('sessions per token, with an admin reserve (issue #19 item 4)', () => {
  it('an agent token at its cap is refused (429 RATE_LIMITED, Retry-After) and cannot block another token or the admin', async () => {
    // Room for agents: 8 - 2 reserved = 6; each token 3.
    const gw = await withAuth(`[gateway]\nmax_connections = 8\nmax_sessions_per_client = 3\nadmin_reserve = 2\nsession_idle_timeout = 3600`);
    for (let i = 0; i < 3; i++) expect((await openSession(gw, bearer(TOKENS.a1))).status).toBe(200);
    const over = await openSession(gw, bearer(TOKENS.a1));
    expect(over.status).toBe(429);
    expect(over.headers['retry-after']).toBeDefined();
    const error = (JSON.parse(over.body) as { error: { message: string; data: { code: string } } }).error;
    expect(error.data.code).toBe('RATE_LIMITED');
    expect(error.message).toMatch(/Token 'a1' holds 3 MCP sessions.*max_sessions_per_client = 3/);

    // Another agent and the admin still get in.
    for (let i = 0; i < 3; i++) expect((await openSession(gw, bearer(TOKENS.a2))).status).toBe(200);
    // Six agent sessions fill the agents' room: a third agent is refused, naming the global cap and the reserve...
    const full = await openSession(gw, bearer(TOKENS.a3));
    expect(full.status).toBe(429);
    expect(full.body).toMatch(/max_connections = 8.*admin_reserve/);
    // ...and the admin takes the reserve.
    expect((await openSession(gw, bearer(TOKENS.ops))).status).toBe(200);
    expect((await openSession(gw, bearer(TOKENS.ops))).status).toBe(200);
    await gw.stop();
  });

  it('a session ended with DELETE frees its slot', async () => {
    const gw = await withAuth(`[gateway]\nmax_sessions_per_client = 1`);
    const first = await openSession(gw, bearer(TOKENS.a1));
    expect(first.status).toBe(200);
    expect((await openSession(gw, bearer(TOKENS.a1))).status).toBe(429);
    const id = String(first.headers['mcp-session-id']);
    expect((await send(gw.url, 'DELETE', '/mcp', { ...bearer(TOKENS.a1), 'mcp-session-id': id })).status).toBe(200);
    expect((await openSession(gw, bearer(TOKENS.a1))).status).toBe(200);
    await gw.stop();
  });

  it('legacy SSE sessions count against the same cap', async () => {
    const gw = await withAuth(`[gateway]\nmax_sessions_per_client = 2`);
    expect((await openSession(gw, bearer(TOKENS.a1))).status).toBe(200);
    const sse = await openStream(gw, '/sse', bearer(TOKENS.a1));
    expect(sse.status).toBe(200);
    const over = await openStream(gw, '/sse', bearer(TOKENS.a1));
    expect(over.status).toBe(429);
    expect(JSON.parse(over.body)).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await openStream(gw, '/sse', bearer(TOKENS.a2))).status).toBe(200);
    // A legacy session ends with its stream: hanging up frees the slot.
    sse.close();
    await eventually(async () => (await openStream(gw, '/sse', bearer(TOKENS.a1))).status === 200);
    await gw.stop();
  });
});

describe('event streams per token, with an admin reserve (issue #19 item 4)', () => {
  it('caps /coord/events per token; another token and the admin (/log/stream) still get in; a closed stream frees its slot', async () => {
    // Room for agents: 5 - 1 reserved = 4; each token 3.
    const gw = await withAuth(`[coordination]\n\n[gateway]\nmax_streams = 5\nmax_streams_per_client = 3\nadmin_reserve = 1`);
    const mine: Held[] = [];
    for (let i = 0; i < 3; i++) {
      const h = await openStream(gw, '/coord/events', bearer(TOKENS.a1));
      expect(h.status).toBe(200);
      mine.push(h);
    }
    const over = await openStream(gw, '/coord/events', bearer(TOKENS.a1));
    expect(over.status).toBe(429);
    expect(over.headers['retry-after']).toBeDefined();
    expect(JSON.parse(over.body)).toMatchObject({
      code: 'RATE_LIMITED',
      error: expect.stringMatching(/Token 'a1' holds 3 event streams.*max_streams_per_client = 3/),
    });

    // Hanging up frees the slot (freed when the gateway sees the socket close).
    mine[0]!.close();
    await eventually(async () => (await openStream(gw, '/coord/events', bearer(TOKENS.a1))).status === 200);

    expect((await openStream(gw, '/coord/events', bearer(TOKENS.a2))).status).toBe(200);
    // Four agent streams fill the agents' room; the admin's reserve stays.
    const full = await openStream(gw, '/coord/events', bearer(TOKENS.a3));
    expect(full.status).toBe(429);
    expect(full.body).toMatch(/max_streams = 5/);
    expect((await openStream(gw, '/log/stream', bearer(TOKENS.ops))).status).toBe(200);

    await gw.stop();
  });

  it('/health answers while streams are at their cap', async () => {
    const gw = await withAuth(`[coordination]\n\n[gateway]\nmax_streams = 2\nadmin_reserve = 0`);
    expect((await openStream(gw, '/coord/events', bearer(TOKENS.a1))).status).toBe(200);
    expect((await openStream(gw, '/coord/events', bearer(TOKENS.a2))).status).toBe(200);
    expect((await openStream(gw, '/coord/events', bearer(TOKENS.a3))).status).toBe(429);
    expect((await send(gw.url, 'GET', '/health', {})).status).toBe(200);
    await gw.stop();
  });
});

describe('with auth off, per client address (issue #19 item 4)', () => {
  it('caps sessions and streams per address: 127.0.0.1 at its cap does not block 127.0.0.2', async () => {
    const gw = await startGateway('[coordination]\n\n[gateway]\nmax_sessions_per_client = 2\nmax_streams_per_client = 2\n');
    for (let i = 0; i < 2; i++) expect((await openSession(gw, {}, '127.0.0.1')).status).toBe(200);
    const over = await openSession(gw, {}, '127.0.0.1');
    expect(over.status).toBe(429);
    expect(over.body).toMatch(/Client address 127\.0\.0\.1 holds 2 MCP sessions/);
    expect((await openSession(gw, {}, '127.0.0.2')).status).toBe(200);

    for (let i = 0; i < 2; i++) expect((await openStream(gw, '/coord/events', {}, '127.0.0.1')).status).toBe(200);
    expect((await openStream(gw, '/coord/events', {}, '127.0.0.1')).status).toBe(429);
    expect((await openStream(gw, '/log/stream', {}, '127.0.0.2')).status).toBe(200);
    await gw.stop();
  });
});

describe('the global stream cap follows the open-file limit (issue #19 item 4)', () => {
  it('with ulimit -n 256 and max_connections = 98, streams stop at 256/2 - 98 = 30 and /health still answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stonegate-caps-'));
    writeFileSync(join(dir, 'stonegate.toml'), '[gateway]\nmax_connections = 98\nmax_streams_per_client = 1000\nadmin_reserve = 0\n');
    // The real limit, set the way a user's shell sets it, on a real process.
    const proc = spawn(
      'sh',
      ['-c', `ulimit -n 256 && exec "${process.execPath}" "${BIN}" serve -c "${join(dir, 'stonegate.toml')}" --port 0 --data-dir "${join(dir, 'data')}"`],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        proc.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening`)));
        createInterface({ input: proc.stdout! }).on('line', (text) => {
          const line = JSON.parse(text) as { msg: string; url?: string };
          if (line.msg === 'stonegate listening' && line.url !== undefined) resolve(line.url);
        });
      });
      const streams: Held[] = [];
      for (let i = 0; i < 30; i++) {
        const h = await hold(url, '/coord/events', {});
        held.push(h);
        expect(h.status).toBe(200);
        streams.push(h);
      }
      const over = await hold(url, '/coord/events', {});
      held.push(over);
      expect(over.status).toBe(429);
      expect(JSON.parse(over.body)).toMatchObject({ code: 'RATE_LIMITED', error: expect.stringMatching(/max_streams = 30/) });
      expect((await send(url, 'GET', '/health', {})).status).toBe(200);
    } finally {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
