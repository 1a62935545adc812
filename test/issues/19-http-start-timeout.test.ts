import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { q, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Issue #19, item 11: start_timeout was not enforced on the legacy-SSE
 * fallback of HTTP backends. A listener that accepts connections and never
 * answers held POST /server/add — and the backend name's lock — for about
 * two minutes. The listener here is a real HTTP server that refuses the
 * Streamable HTTP POST (405, as a legacy SSE-only server does) and never
 * answers the SSE GET the gateway falls back to; start_timeout is 2 s and
 * the test's own timeout 20 s, so only a bounded connect lets the add (and
 * the next one on the same name) end.
 */

let gw: RunningGateway;
let silent: Server;
const sockets = new Set<Socket>();
const seen: string[] = [];

beforeAll(async () => {
  silent = createServer((req, res) => {
    seen.push(req.method ?? '');
    if (req.method === 'POST') res.writeHead(405, { allow: 'GET' }).end();
    // GET (the SSE stream): never answered.
  });
  silent.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  gw = await startGateway('');
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
  await stopAll();
});

const url = (): string => {
  const address = silent.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}/mcp`;
};

describe('#19 item 11: start_timeout bounds the whole connect of an HTTP backend', () => {
  it('POST /server/add of a backend that accepts and never answers fails within start_timeout, the SSE fallback included', { timeout: 20_000 }, async () => {
    const entry = { name: 'silent', transport: 'http', url: url(), start_timeout: 2000 };
    const added = await gw.request('POST', '/server/add', entry);
    expect(added.status).toBe(503);
    expect(added.body.code).toBe('BACKEND_UNAVAILABLE');
    expect(added.body.error).toContain("Backend 'silent'");
    expect(added.body.error).toContain('start_timeout (2000 ms)');
    expect(added.body.error).toContain('legacy-SSE fallback');
    // Both transports were tried: the POSTs (the era probe of protocol = "auto", then initialize: refused), then the SSE GET (never answered).
    expect(seen.slice(0, 3)).toEqual(['POST', 'POST', 'GET']);
    expect(((await gw.request('GET', '/server/list')).body.servers as { name: string }[]).map((s) => s.name)).not.toContain('silent');
    // The name's lock was released: the same add is served, and fails the same way.
    const again = await gw.request('POST', '/server/add', entry);
    expect([again.status, again.body.code]).toEqual([503, 'BACKEND_UNAVAILABLE']);
  });

  it('a backend of the config file at such a listener is restarting, not stuck starting, after start_timeout', { timeout: 20_000 }, async () => {
    const local = await startGateway(`
[[backends]]
name = "silent"
transport = "http"
url = ${q(url())}
start_timeout = 2000

[supervisor]
restart_backoff_min = 60000
restart_backoff_max = 60000
`);
    const failed = await local.waitForLog((l) => l.backend === 'silent' && l.msg === 'backend will restart', 15_000);
    expect(String(failed.error)).toContain('start_timeout (2000 ms)');
    await local.stop();
  });
});
