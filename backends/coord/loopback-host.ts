import type { Context } from 'hono';
import { hostOfHeader, hostOfOrigin, isLoopbackHost } from '../../kit/loopback.js';

/*
 * DNS-rebinding protection of the standalone server while it is bound to
 * loopback: a web page the user visits must not reach it through a hostile
 * DNS name, so Host (and Origin when a browser sends one) must name a
 * loopback host, by the gateway's own rule (kit/loopback.ts: literals and
 * localhost, never a name). /mcp (mcp-http.ts) and the REST routes
 * (standalone-app.ts) refuse with their own answer shapes, on this one check.
 */

/** Whether a request's Host (and Origin, when a browser sends one) name a loopback host. */
export function fromLoopback(c: Context): boolean {
  const host = c.req.header('host');
  if (host === undefined || !isLoopbackHost(hostOfHeader(host))) return false;
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  const name = hostOfOrigin(origin);
  return name !== undefined && isLoopbackHost(name);
}
