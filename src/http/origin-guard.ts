import { isLoopbackHost } from '../config/loopback.js';
import type { Config } from '../config/schema.js';

/** What the front door's checks read of a request: a Hono request (`c.req`) is one, and so is the hot path's view of a Node request (hot-routes.ts). */
export interface GuardRequest {
  readonly method: string;
  readonly path: string;
  header(name: string): string | undefined;
}

/** An Origin's serialization: scheme://host[:port]. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]/]*\]|[^/:?#@[\]]+)(?::[0-9]{1,5})?\/?$/i;

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
 * are loopback (src/config/loopback.ts: literals and localhost, never a
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
      const name = hostnameOf(host);
      if (!isLoopbackHost(name) && !allowedHosts.has(name) && !allowedHosts.has(host.toLowerCase())) {
        return `Host '${host.slice(0, 200)}' is not allowed; add it to [gateway] allowed_hosts if this is intended`;
      }
    }
    const origin = req.header('origin');
    if (origin !== undefined) {
      // The rule is applied to the host as written: the URL parser would turn
      // `http://2130706433` or `http://0x7f.1` into 127.0.0.1, which the
      // loopback rule refuses on purpose.
      const name = ORIGIN.exec(origin)?.[1];
      if (name === undefined) return `Origin '${origin.slice(0, 200)}' is not a valid origin`;
      if (!isLoopbackHost(name) && !allowedOrigins.has(origin.toLowerCase().replace(/\/$/, ''))) {
        return `Origin '${origin.slice(0, 200)}' is not allowed; add it to [gateway] allowed_origins if this is intended`;
      }
    }
    return undefined;
  };
}
