import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';

/** A listening Node HTTP server and how to stop it. */
export interface Listener {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The one place that starts a Node server. Resolves once it listens;
 * rejects when the port is taken (with a sentence saying so).
 */
export function listen(app: Hono, host: string, port: number): Promise<Listener> {
  return new Promise<Listener>((resolve, reject) => {
    let server: ServerType;
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use (another gateway? pick one with --port)` : err.message;
      reject(new Error(`Cannot listen on ${host}:${port}: ${why}`));
    };
    server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      server.off('error', onError);
      const shownHost = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://${shownHost}:${info.port}`,
        port: info.port,
        close: () => {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            // Keep-alive sockets would hold close() open; idle ones go now.
            if ('closeIdleConnections' in server) server.closeIdleConnections();
          });
          return closing;
        },
      });
    });
    server.once('error', onError);
  });
}
