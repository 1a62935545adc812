import { afterEach, describe, expect, it, vi } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { silentLogger } from '../../src/log.js';
import { type CacheHintSources, cacheHintsFor } from '../../src/mcp/cache-hints.js';
import type { View } from '../../src/mcp/view.js';

// Issue #23 item 4: how 2026-07-28 cache hints follow the catalog's listings.

const meta = { capabilities: { tools: {}, prompts: {}, resources: {} }, serverInfo: undefined, instructions: undefined };

function sources(auth: boolean): { catalog: Catalog; gateway: CacheHintSources } {
  const catalog = new Catalog({ separator: '__', ttlSeconds: 60, logger: silentLogger() });
  const gateway = { catalog, config: { gateway: { schema_cache_ttl: 60 } }, security: { enabled: auth } } as unknown as CacheHintSources;
  return { catalog, gateway };
}

function list(catalog: Catalog, server: string): void {
  catalog.setMeta(server, meta);
  catalog.set(server, []);
}

const view = (servers?: string[]): View => ({
  expose: 'all',
  servers: servers === undefined ? undefined : new Set(servers),
  single: undefined,
  caller: undefined,
});

afterEach(() => {
  vi.useRealTimers();
});

describe('cacheHintsFor', () => {
  it('counts down from schema_cache_ttl since the oldest listing the view sees, never below 0', () => {
    vi.useFakeTimers();
    const { catalog, gateway } = sources(false);
    list(catalog, 'old');
    vi.advanceTimersByTime(20_000);
    list(catalog, 'new');
    vi.advanceTimersByTime(5_000);
    expect(cacheHintsFor(gateway, view())['tools/list']).toEqual({ ttlMs: 35_000, cacheScope: 'public' });
    expect(cacheHintsFor(gateway, view(['new']))['tools/list']).toEqual({ ttlMs: 55_000, cacheScope: 'public' });
    expect(cacheHintsFor(gateway, view())['server/discover']?.ttlMs).toBe(35_000);
    vi.advanceTimersByTime(60_000);
    expect(cacheHintsFor(gateway, view())['tools/list']?.ttlMs).toBe(0);
  });

  it("restarts a backend's prompt or resource countdown on its list_changed, and keeps reads at 0", () => {
    vi.useFakeTimers();
    const { catalog, gateway } = sources(true);
    list(catalog, 'fs');
    vi.advanceTimersByTime(30_000);
    catalog.relisted('fs', 'prompts');
    const hints = cacheHintsFor(gateway, view());
    expect(hints['prompts/list']).toEqual({ ttlMs: 60_000, cacheScope: 'private' });
    expect(hints['resources/list']).toEqual({ ttlMs: 30_000, cacheScope: 'private' });
    expect(hints['resources/templates/list']?.ttlMs).toBe(30_000);
    expect(hints['tools/list']?.ttlMs).toBe(30_000);
    expect(hints['server/discover']?.ttlMs).toBe(30_000);
    expect(hints['resources/read']).toEqual({ ttlMs: 0, cacheScope: 'private' });
  });

  it('a full TTL for a view that sees no listed backend', () => {
    const { catalog, gateway } = sources(false);
    list(catalog, 'fs');
    expect(cacheHintsFor(gateway, view(['other']), Date.now())['tools/list']?.ttlMs).toBe(60_000);
  });
});
