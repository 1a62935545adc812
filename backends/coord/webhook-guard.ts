import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { CoordError } from './errors.js';

/*
 * Doorbell webhooks make this server send requests to URLs that agents
 * choose, which is a server-side request forgery risk: an agent could aim the
 * doorbell at a cloud metadata endpoint or an admin port on the LAN. So only
 * http(s) URLs are accepted, and every address the host name resolves to must
 * be public unless allow_private_webhooks is set. The check runs at
 * registration (a clear error for the agent) and again at connect time through
 * a custom `lookup` (so a DNS answer that changes after registration cannot
 * rebind the doorbell to a private address).
 */

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64 can reach private IPv4
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** True when the address is loopback, private, link-local or otherwise not a public unicast address. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is refused outright rather than
  // unwrapped. Not as a BlockList rule: BlockList applies ::ffff:0:0/96 to
  // every plain IPv4 address too.
  if (family === 6) return /^::ffff:/i.test(address) || blocked.check(address, 'ipv6');
  return true; // not an IP at all: refuse
}

function refusal(url: string, detail: string): CoordError {
  return new CoordError(
    'BAD_REQUEST',
    `Webhook URL '${url}' refused: ${detail}. Use a public http(s) URL, or set allow_private_webhooks = true in [coordination] for local receivers.`,
  );
}

function hostOf(url: URL): string {
  // URL keeps IPv6 literals in brackets.
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Parses and checks a webhook URL; resolves the host name. Throws BAD_REQUEST when it is not acceptable. */
export async function checkWebhookUrl(raw: string, allowPrivate: boolean): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CoordError('BAD_REQUEST', `Webhook URL '${raw}' is not a valid absolute URL; give one like https://example.com/doorbell.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CoordError('BAD_REQUEST', `Webhook URL '${raw}' uses ${url.protocol}; only http: and https: are allowed.`);
  }
  if (allowPrivate) return url;
  const host = hostOf(url);
  if (isIP(host) !== 0) {
    if (isPrivateAddress(host)) throw refusal(raw, `${host} is a private, loopback or link-local address`);
    return url;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
      dnsLookup(host, { all: true }, (error, found) => (error ? reject(error) : resolve(found))),
    );
  } catch (error) {
    throw refusal(raw, `host '${host}' could not be resolved (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const bad = addresses.find((a) => isPrivateAddress(a.address));
  if (bad !== undefined) throw refusal(raw, `host '${host}' resolves to ${bad.address}, a private, loopback or link-local address`);
  return url;
}

/**
 * A `lookup` for http.request that resolves like the default but fails when
 * any answer is a private address. IP literals never reach a lookup, so the
 * caller checks those itself (checkWebhookUrl does).
 */
export function publicOnlyLookup(): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const bad = addresses.find((a) => isPrivateAddress(a.address));
      if (bad !== undefined) {
        const refused = Object.assign(new Error(`${hostname} resolves to private address ${bad.address}`), { code: 'EPRIVATE' });
        callback(refused, '', 0);
        return;
      }
      if (options.all === true) {
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        return;
      }
      const first = addresses[0];
      if (first === undefined) callback(Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' }), '', 0);
      else callback(null, first.address, first.family);
    });
  };
}
