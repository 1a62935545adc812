import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerOf, LeanPool } from './lean-http.js';

/*
 * The benches' lean HTTP/1.1 client against a real node:http server: both
 * framings, keep-alive reuse, answers split across reads, and a socket the
 * server closed while it sat idle.
 */

let server: Server;
let base: string;
const sockets = new Set<string>();

beforeAll(async () => {
  server = createServer((req, res) => {
    sockets.add(`${req.socket.remotePort}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-mark': 'chunked' });
        res.write('{"parts":');
        setTimeout(() => res.end('[1,2,3]}'), 5); // a second chunk in a later read
        return;
      }
      if (req.url === '/close') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2, connection: 'close' });
        res.end('{}');
        return;
      }
      const answer = JSON.stringify({ method: req.method, url: req.url, body, header: req.headers['x-extra'] ?? null, big: 'x'.repeat(100_000) });
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  server.keepAliveTimeout = 200;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('bench lean HTTP client', () => {
  it('sends method, path, body and extra headers; reads a Content-Length body larger than one read', async () => {
    const pool = new LeanPool(base);
    try {
      const answer = await pool.request('POST', '/x?y=1', '{"a":1}', 'x-extra: yes\r\n');
      expect(answer.status).toBe(201);
      expect(headerOf(answer, 'content-type')).toBe('application/json');
      const body = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
      expect(body).toMatchObject({ method: 'POST', url: '/x?y=1', body: '{"a":1}', header: 'yes' });
      expect((body.big as string).length).toBe(100_000);
    } finally {
      pool.close();
    }
  });

  it('reads a chunked body that arrives in two reads', async () => {
    const pool = new LeanPool(base);
    try {
      const answer = await pool.request('GET', '/chunked');
      expect(headerOf(answer, 'x-mark')).toBe('chunked');
      expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ parts: [1, 2, 3] });
    } finally {
      pool.close();
    }
  });

  it('keeps one socket alive for sequential requests, opens one per request in flight, and replaces closed ones', async () => {
    const pool = new LeanPool(base);
    try {
      sockets.clear();
      for (let i = 0; i < 5; i++) await pool.request('GET', '/seq');
      expect(sockets.size).toBe(1);
      sockets.clear();
      await Promise.all(Array.from({ length: 4 }, () => pool.request('GET', '/par')));
      expect(sockets.size).toBe(4);
      // The server closes this socket after answering; the next request gets a fresh one.
      await pool.request('GET', '/close');
      await new Promise((r) => setTimeout(r, 20));
      expect((await pool.request('GET', '/after-close')).status).toBe(201);
      // Past the server's keep-alive timeout (200 ms here) the idle sockets are gone; the pool opens new ones.
      await new Promise((r) => setTimeout(r, 1_200));
      expect((await pool.request('GET', '/after-idle')).status).toBe(201);
    } finally {
      pool.close();
    }
  });
});
