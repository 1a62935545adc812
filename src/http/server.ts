import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { frontDoor } from './hot-routes.js';

/** A listening Node HTTP server and how to stop it. */
export interface Listener {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Where to listen, and how long a client may take to send a request. */
export interface ListenOptions {
  host: string;
  port: number;
  /** ms to receive a request's headers. */
  headersTimeout: number;
  /** ms to receive a whole request (headers and body). */
  bodyTimeout: number;
  /** ms an idle keep-alive connection is kept. */
  keepAliveTimeout: number;
}

/**
 * The one place that starts a Node server. Resolves once it listens;
 * rejects when the port is taken (with a sentence saying so).
 *
 * Slow clients: headersTimeout and requestTimeout bound how long a client
 * may take to *send* its request (Node stops the request timer once the
 * request is fully received), so a slowloris cannot hold sockets, while SSE
 * streams and long polls — long *responses* — are never cut. The socket
 * idle timeout stays off for the same reason.
 */
export function listen(app: Hono, options: ListenOptions): Promise<Listener> {
  const { host, port } = options;
  return new Promise<Listener>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use (another gateway? pick one with --port)` : err.message;
      reject(new Error(`Cannot listen on ${host}:${port}: ${why}`));
    };
    const serverOptions = {
      headersTimeout: options.headersTimeout,
      requestTimeout: options.bodyTimeout,
      keepAliveTimeout: options.keepAliveTimeout,
      // Node checks the two timeouts on this period (30 s by default, far
      // coarser than the timeouts themselves).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(options.headersTimeout / 2))),
    };
    // The app's hot routes are served before Hono, everything else by Hono (hot-routes.ts).
    const server = createServer(serverOptions, frontDoor(app));
    server.listen(port, host, () => {
      const info = server.address() as AddressInfo;
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
            server.closeIdleConnections();
          });
          return closing;
        },
      });
    });
    server.once('error', onError);
  });
}
