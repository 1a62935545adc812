import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgStore } from '../../backends/coord/pg-store.js';
import { unreachable } from '../../kit/pg-unreachable.js';

/*
 * A "database" that accepts the connection and never answers (a hung
 * server, or a proxy in front of a dead one): opening the store must fail
 * after the connect timeout with the usual sentence, not hang. No
 * PostgreSQL is needed; the silent server is a plain TCP listener.
 */

let silent: Server;
const sockets = new Set<Socket>();
let url: string;

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  url = `postgres://stonegate:hunter2@127.0.0.1:${(silent.address() as AddressInfo).port}/coord`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

describe('PostgreSQL store against a server that never answers', () => {
  it('fails the open after the connect timeout, naming the database without its password', async () => {
    const opening = openPgStore({ url, connectTimeoutMs: 300 }).catch(unreachable('[store] url', url));
    await expect(opening).rejects.toThrow(/\[store\] url: could not open the PostgreSQL database at .*127\.0\.0\.1.*timeout/);
    await expect(opening).rejects.not.toThrow(/hunter2/);
  });
});
