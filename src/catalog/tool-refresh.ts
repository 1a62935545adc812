import type { Tool } from '@modelcontextprotocol/client';
import type { Logger } from '../log.js';
import type { Catalog } from './catalog.js';

/** What a refresh reads: how to list a backend's tools now. */
export interface ToolRefreshOptions {
  catalog: Pick<Catalog, 'set'>;
  /** Lists every tool of the backend over one of its connections. */
  list: (server: string) => Promise<Tool[]>;
  logger: Logger;
}

/**
 * Re-lists a backend's tools into the catalog (list_changed, or the cache
 * TTL ran out); one refresh per backend at a time: a second request while
 * one runs gets the running one.
 */
export function toolRefresh(options: ToolRefreshOptions): (server: string) => Promise<void> {
  const refreshing = new Map<string, Promise<void>>();
  return (server) => {
    const running = refreshing.get(server);
    if (running !== undefined) return running;
    const refresh = (async () => {
      try {
        options.catalog.set(server, await options.list(server));
      } catch (err) {
        options.logger.warn({ backend: server, error: (err as Error).message }, 'tool listing refresh failed');
      } finally {
        refreshing.delete(server);
      }
    })();
    refreshing.set(server, refresh);
    return refresh;
  };
}
