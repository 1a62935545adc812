import type { Config } from '../config/schema.js';

/** Where a client on this machine reaches a gateway: a wildcard bind is reached on loopback. */
export interface LocalAddress {
  host: string;
  port: number;
  /** `http://host:port` (IPv6 in brackets), no trailing slash. */
  base: string;
}

/** The address of the config's gateway (the defaults, 127.0.0.1:3393, without a config). */
export function localAddress(config: Pick<Config, 'server'> | undefined): LocalAddress {
  const bound = config?.server.host ?? '127.0.0.1';
  const host = bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound;
  const port = config?.server.port ?? 3393;
  return { host, port, base: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
}
