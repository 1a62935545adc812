import type { CacheHint, CacheScope, ServerOptions } from '@modelcontextprotocol/server';
import type { ListingKind } from '../catalog/catalog.js';
import type { GatewaySurface } from './surface.js';
import { sees, type View } from './view.js';

/** What cache hints read of the gateway. */
export type CacheHintSources = Pick<GatewaySurface, 'catalog' | 'config' | 'security'>;

export type CacheHints = NonNullable<ServerOptions['cacheHints']>;

/*
 * Cache hints (ttlMs, cacheScope) for a 2026-07-28 client's lists, reads and
 * server/discover. The SDK puts them on modern answers only, from the
 * instance's `cacheHints` option, so 2025-era clients never see them.
 *
 * A list may be cached for as long as the gateway itself trusts the
 * backends' listings: [gateway] schema_cache_ttl less the age of the oldest
 * listing the view sees. A backend's list_changed (or a refresh) makes its
 * listing fresh again, so the hint goes back up. Resource contents are not
 * catalogued: reads get ttlMs 0. With auth on, what a client sees depends on
 * its token, so every answer is `private`; so is every answer of a named
 * view ([[views]]); with auth off it is `public`.
 */

/** Milliseconds a listing of `kind` stays trustworthy for the backends `view` sees. */
function remaining(gateway: CacheHintSources, view: View, kinds: readonly ListingKind[], now: number): number {
  const ttl = gateway.config.gateway.schema_cache_ttl * 1000;
  let oldest = now;
  for (const server of gateway.catalog.servers()) {
    if (!sees(view, server)) continue;
    for (const kind of kinds) {
      const at = gateway.catalog.listedAt(server, kind);
      if (at !== undefined && at < oldest) oldest = at;
    }
  }
  return Math.max(0, Math.floor(ttl - (now - oldest)));
}

/** The cache hints of one modern request's server, for `view`, as of now. */
export function cacheHintsFor(gateway: CacheHintSources, view: View, now = Date.now()): CacheHints {
  // [[views]] A named view's lists are its own (names, descriptions): private too.
  const cacheScope: CacheScope = gateway.security.enabled || view.named !== undefined ? 'private' : 'public';
  const hint = (kinds: readonly ListingKind[]): CacheHint => ({ ttlMs: remaining(gateway, view, kinds, now), cacheScope });
  const resources = hint(['resources']);
  return {
    'tools/list': hint(['tools']),
    'prompts/list': hint(['prompts']),
    'resources/list': resources,
    'resources/templates/list': resources,
    'resources/read': { ttlMs: 0, cacheScope },
    'server/discover': hint(['tools', 'prompts', 'resources']),
  };
}
