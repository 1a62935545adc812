import type { Context } from 'hono';
import type { Config } from '../config/schema.js';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function isLoopback(hostname: string): boolean {
  return LOOPBACK_NAMES.has(hostname) || hostname.startsWith('127.') || hostname.endsWith('.localhost');
}

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

/**
 * DNS-rebinding and cross-site protection, for every route but /health. A
 * web page can make a browser send requests to 127.0.0.1 under a hostname
 * it controls; the Host header then names that hostname, and the Origin the
 * page's site. So: a gateway bound to loopback answers only Host names that
 * are loopback or listed in allowed_hosts, and any request that carries an
 * Origin must come from a loopback origin or one listed in allowed_origins.
 * Clients that are not browsers send no Origin and pass.
 *
 * Returns a function that gives the reason a request is refused, or
 * undefined when it may pass.
 */
export function originCheck(config: Config): (c: Context) => string | undefined {
  const allowedHosts = new Set(config.gateway.allowed_hosts.map((h) => h.toLowerCase()));
  const allowedOrigins = new Set(config.gateway.allowed_origins.map((o) => o.toLowerCase().replace(/\/$/, '')));
  const boundToLoopback = isLoopback(config.server.host);
  return (c) => {
    const host = c.req.header('host');
    if (host !== undefined && (boundToLoopback || allowedHosts.size > 0)) {
      const name = hostnameOf(host);
      if (!isLoopback(name) && !allowedHosts.has(name) && !allowedHosts.has(host.toLowerCase())) {
        return `Host '${host.slice(0, 200)}' is not allowed; add it to [gateway] allowed_hosts if this is intended`;
      }
    }
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      let name: string;
      try {
        name = new URL(origin).hostname;
      } catch {
        return `Origin '${origin.slice(0, 200)}' is not a valid origin`;
      }
      if (!isLoopback(name) && !allowedOrigins.has(origin.toLowerCase().replace(/\/$/, ''))) {
        return `Origin '${origin.slice(0, 200)}' is not allowed; add it to [gateway] allowed_origins if this is intended`;
      }
    }
    return undefined;
  };
}
