import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { CapClient, ClientCaps } from '../auth/client-caps.js';

/**
 * The client a request's slots are counted for: its token when [auth] has
 * tokens, else its address (auth off: each address is one client). Admin
 * tokens may use the admin reserve; with auth off, so may the admin routes
 * (GET /log/stream), which is all "admin" means there.
 */
export function capClient(c: Context): CapClient {
  const identity = c.get('identity');
  if (identity !== undefined) return { key: `token ${identity.name}`, admin: identity.role === 'admin' };
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const address = (incoming?.socket.remoteAddress ?? 'unknown').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return { key: `address ${address}`, admin: c.get('routeRole') === 'admin' };
}

/** The body, passed through; `release` runs once it ends, fails or its reader cancels it (the client went away). */
function releasing(body: ReadableStream<Uint8Array>, release: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller): Promise<void> {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        release();
        controller.error(err);
      }
    },
    cancel(reason): Promise<void> {
      release();
      return reader.cancel(reason);
    },
  });
}

/**
 * For the event-stream routes (GET /coord/events, GET /log/stream): takes a
 * stream slot for the client before the route runs (RATE_LIMITED over a
 * cap, see client-caps.ts) and holds it while the stream is open; an
 * answer that is not a stream frees it at once.
 */
export function streamSlot(caps: ClientCaps): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'GET') return next();
    const release = caps.acquire('stream', capClient(c));
    try {
      await next();
    } catch (err) {
      release();
      throw err;
    }
    const body = c.res.body;
    if (body === null || !(c.res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      release();
      return undefined;
    }
    c.res = new Response(releasing(body, release), c.res);
    return undefined;
  };
}
