import { hostOfHeader, hostOfOrigin, isLoopbackHost } from '../../kit/loopback.js';
import type { Config } from '../config/schema.js';

/** What the front door's checks read of a request: a Hono request (`c.req`) is one, and so is the hot path's view of a Node request (hot-routes.ts). */
export interface GuardRequest {
  readonly method: string;
  readonly path: string;
  header(name: string): string | undefined;
}

/**
 * DNS-rebinding and cross-site protection, for every route but /health. A
 * web page can make a browser send requests to 127.0.0.1 under a hostname
 * it controls; the Host header then names that hostname, and the Origin the
 * page's site. So: a gateway bound to loopback answers only Host names that
 * are loopback (kit/loopback.ts: literals and localhost, never a
 * name that merely starts with 127.) or listed in allowed_hosts, and any request that carries an
 * Origin must come from a loopback origin or one listed in allowed_origins.
 * Clients that are not browsers send no Origin and pass.
 *
 * Returns a function that gives the reason a request is refused, or
 * undefined when it may pass.
 */
export function originCheck(config: Config): (req: GuardRequest) => string | undefined {
  const allowedHosts = new Set(config.gateway.allowed_hosts.map((h) => h.toLowerCase()));
  const allowedOrigins = new Set(config.gateway.allowed_origins.map((o) => o.toLowerCase().replace(/\/$/, '')));
  const boundToLoopback = isLoopbackHost(config.server.host);
  return (req) => {
    const host = req.header('host');
    if (host !== undefined && (boundToLoopback || allowedHosts.size > 0)) {
      const name = hostOfHeader(host);
      if (!isLoopbackHost(name) && !allowedHosts.has(name) && !allowedHosts.has(host.toLowerCase())) {
        return `Host '${host.slice(0, 200)}' is not allowed; add it to [gateway] allowed_hosts if this is intended`;
      }
    }
    const origin = req.header('origin');
    if (origin !== undefined) {
      // The rule is applied to the host as written (hostOfOrigin says why).
      const name = hostOfOrigin(origin);
      if (name === undefined) return `Origin '${origin.slice(0, 200)}' is not a valid origin`;
      if (!isLoopbackHost(name) && !allowedOrigins.has(origin.toLowerCase().replace(/\/$/, ''))) {
        return `Origin '${origin.slice(0, 200)}' is not allowed; add it to [gateway] allowed_origins if this is intended`;
      }
    }
    return undefined;
  };
}
