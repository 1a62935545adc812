import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { CapClient, ClientCaps } from '../auth/client-caps.js';
import type { Identity } from '../auth/tokens.js';
import type { Role } from './route-role.js';

/**
 * The client a request's slots are counted for: its token when [auth] has
 * tokens, else its address (auth off: each address is one client). Admin
 * tokens may use the admin reserve; with auth off, so may the admin routes
 * (GET /log/stream), which is all "admin" means there.
 */
export function capClient(c: Context): CapClient {
  return capClientOf(c.get('identity'), (c.env as { incoming?: IncomingMessage } | undefined)?.incoming, c.get('routeRole'));
}

/** capClient from its parts: the request's token, its Node request, and the role its route declares (the hot path's too). */
export function capClientOf(identity: Identity | undefined, incoming: IncomingMessage | undefined, declared: Role | undefined): CapClient {
  if (identity !== undefined) return { key: `token ${identity.name}`, admin: identity.role === 'admin' };
  const address = (incoming?.socket.remoteAddress ?? 'unknown').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return { key: `address ${address}`, admin: declared === 'admin' };
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
