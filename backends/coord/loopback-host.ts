import type { Context } from 'hono';

/*
 * DNS-rebinding protection of the standalone server while it is bound to
 * loopback: a web page the user visits must not reach it through a hostile
 * DNS name, so Host (and Origin when a browser sends one) must name a
 * loopback host. /mcp (mcp-http.ts) and the REST routes (standalone-app.ts)
 * refuse with their own answer shapes, on this one check.
 */

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function hostnameOf(value: string): string {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname;
  } catch {
    return '';
  }
}

/** Whether a request's Host (and Origin, when a browser sends one) name a loopback host. */
export function fromLoopback(c: Context): boolean {
  const host = hostnameOf(c.req.header('host') ?? '');
  const origin = c.req.header('origin');
  return LOOPBACK.has(host) && (origin === undefined || LOOPBACK.has(hostnameOf(origin)));
}
