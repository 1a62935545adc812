// The one loopback rule of the gateway and the standalone coordination
// server, for the bind address and for the Host and Origin guard. It is deliberately narrow: DNS rebinding works by
// a name the attacker controls resolving to 127.0.0.1, so only spellings no
// resolver can be asked about pass. A dotted-quad IPv4 literal in 127/8
// (four decimal octets, no leading zeros), `::1`, `::ffff:` + such a
// literal (also in its hex form, which the URL parser produces),
// `localhost` and `*.localhost` (browsers resolve these to loopback
// themselves, never through DNS). Every other spelling — `127.1`,
// `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.0.0.1.example`, a trailing
// dot — is a name, and a name is not loopback.

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const LOOPBACK_V4 = new RegExp(`^127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const MAPPED_HEX = /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/;
const LOCALHOST_SUBDOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+localhost$/;

/** Whether a host name or address (IPv6 with or without brackets) is loopback by the rule above. */
export function isLoopbackHost(host: string): boolean {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']') && h.includes(':')) h = h.slice(1, -1);
  if (h === 'localhost' || LOCALHOST_SUBDOMAIN.test(h)) return true;
  if (LOOPBACK_V4.test(h) || h === '::1') return true;
  if (h.startsWith('::ffff:')) return LOOPBACK_V4.test(h.slice('::ffff:'.length)) || MAPPED_HEX.test(h);
  return false;
}

/** The host name of a Host header value (`name[:port]`, `[v6][:port]`), lower-cased, as written: no URL parsing. */
export function hostOfHeader(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

/** An Origin's serialization: scheme://host[:port]. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]/]*\]|[^/:?#@[\]]+)(?::[0-9]{1,5})?\/?$/i;

/**
 * The host of an Origin header as written, or undefined when it is not an
 * origin. Not through the URL parser: it would turn `http://2130706433` or
 * `http://0x7f.1` into 127.0.0.1, which the loopback rule refuses on purpose.
 */
export function hostOfOrigin(origin: string): string | undefined {
  return ORIGIN.exec(origin)?.[1];
}
