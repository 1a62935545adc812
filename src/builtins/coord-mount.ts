import { join } from 'node:path';
import { deferredStore } from '../../backends/coord/deferred-store.js';
import { openStoreAt } from '../../backends/coord/open-store.js';
import type { CoordOptions } from '../../backends/coord/options.js';
import { createPushFeed } from '../../backends/coord/push-feed.js';
import { coordRoutes } from '../../backends/coord/rest.js';
import { createCoordServer } from '../../backends/coord/server.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import type { BuiltinContext, BuiltinMount } from './builtin-backend.js';

/*
 * [speed] What mounting coord takes (its store, MCP server, REST routes and
 * push feed), apart from coord.ts so that a gateway without [coordination]
 * (or a CLI command) does not import it: coord.ts loads this module when a
 * config mounts coord (its load()), and the config reads only coord.ts.
 */

/**
 * The coordination store [store] names: data_dir/coord.db, or the shared
 * PostgreSQL. The PostgreSQL one opens asynchronously; `ready` opens it
 * (call it at start so that a bad URL fails the start).
 */
export function openCoordStore(context: BuiltinContext<CoordOptions>): { store: CoordStore; ready: () => Promise<unknown> } {
  const { store: where, dataDir, options, logger } = context;
  if (where.url === '') {
    const store = openSqliteStore(join(dataDir, 'coord.db'), options, { logger });
    return { store, ready: async () => store };
  }
  return deferredStore('postgres', () =>
    openStoreAt({ db: where.url, poolSize: where.pool_size, setting: '[store] url', sharedListen: true }, options, { logger }),
  );
}

/** Mounts the built-in `coord` backend (coordBuiltin.mount, once loaded). */
export function mountCoord(context: BuiltinContext<CoordOptions>): BuiltinMount {
  const log = context.logger.child({ backend: 'coord' });
  // SQLite in data_dir, or the PostgreSQL of [store] url (opened by ready()).
  const { store, ready } = openCoordStore({ ...context, logger: log });
  // [coord-push] One reader of the event stream per gateway, fanned out to the agents' sessions (src/mcp/coord-push.ts).
  const push = createPushFeed(store, log);
  return {
    server: () => createCoordServer(store, context.options, log),
    routes: coordRoutes(store, context.options, log),
    streams: ['/events'],
    probes: ['/livez', '/readyz'],
    ready,
    // An agent token's call is its agent's activity even when it names no agent (mux_discover, GET /coord/events …).
    activity: (agent) =>
      store.touchAgent(agent).catch((error: unknown) => log.warn({ agent, error: String(error) }, 'could not count an agent call as activity')),
    health: () => store.health(),
    push: { scheme: 'coord://', listen: push.listen, inbox: push.inbox, thread: push.thread },
    close: () => {
      push.close();
      return store.close();
    },
  };
}
