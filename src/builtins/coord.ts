import { join } from 'node:path';
import { backupStore, type CopyReport, restoreStore } from '../../backends/coord/backup.js';
import { deferredStore } from '../../backends/coord/deferred-store.js';
import { isPostgresUrl, openStoreAt } from '../../backends/coord/open-store.js';
import { type CoordOptions, CoordOptionsSchema } from '../../backends/coord/options.js';
import { createPushFeed } from '../../backends/coord/push-feed.js';
import { coordRoutes } from '../../backends/coord/rest.js';
import { createCoordServer } from '../../backends/coord/server.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import type { BuiltinBackend, BuiltinContext } from './builtin-backend.js';

/*
 * The one door between the gateway and the coordination backend: the only
 * file of src/ that imports backends/coord. It mounts coord (store, REST
 * routes, backend entry), declares the identity fields coord's calls and
 * routes carry, and hands the CLI and the config what they need of coord.
 */

export type { CoordStore };
export { backupStore, type CoordOptions, CoordOptionsSchema, type CopyReport, isPostgresUrl, restoreStore };

/** `stonegate coord`: the standalone coordination server in this process (it then owns the process). */
export async function runCoord(argv: readonly string[]): Promise<void> {
  const { run } = await import('../../backends/coord/main.js');
  await run(argv);
}

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

/** The built-in `coord` backend ([coordination]). */
export const coordBuiltin: BuiltinBackend<CoordOptions> = {
  name: 'coord',
  title: 'the built-in coordination backend',
  section: 'coordination',
  /**
   * Long polls hold a call for up to poll_timeout_max, so its timeout is
   * above that, and one connection carries many waiting polls.
   */
  entry: (options) => ({
    args: [],
    env: {},
    inherit_env: false,
    headers: {},
    roots: [],
    affinity: 'shared',
    auto_restart: true,
    health_check: true,
    enabled: true,
    timeout: Math.ceil(options.poll_timeout_max * 1000) + 30_000,
    pool: { min: 1, max: 4, max_concurrency: 1_000 },
  }),
  mount: (context) => {
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
  },
  // Each operation checks its input with its own schema (backends/coord/parse-input.ts)
  // and refuses with BAD_REQUEST and the field, as on REST and the standalone server.
  checksArguments: true,
  /*
   * With auth on, an agent token acts only as itself on coord: every identity
   * field it sends (mux_* arguments, /coord bodies and queries) must be its
   * token's name; reading history and listing threads need agent_id; a
   * state write or channel creation that names no author is the token's.
   */
  identity: {
    fields: ['agent_id', 'from', 'posted_by', 'updated_by', 'created_by'],
    selfField: 'agent_id',
    toolPrefix: 'mux_',
    // backends/coord/event-view.ts: the event stream shows what this agent may see.
    viewerVariable: 'coordViewer',
    // Who wrote a state value and who made a channel: an agent token's name when the call leaves it out.
    fill: {
      mux_state_set: 'updated_by',
      '/coord/state/set': 'updated_by',
      mux_channel_create: 'created_by',
      '/coord/channel/create': 'created_by',
    },
    selfOnly: {
      ...Object.fromEntries(['mux_history', '/coord/msg/history'].map((key) => [key, historyRefusal])),
      ...Object.fromEntries(['mux_thread_list', 'mux_status', '/coord/thread/list', '/coord/status'].map((key) => [key, threadRefusal])),
    },
  },
};

function historyRefusal(name: string, what: string): string {
  return `${what}: an agent token reads message history only as itself; pass agent_id = '${name}' to see the messages it sent and received, or use an admin token for the whole channel`;
}

function threadRefusal(name: string, what: string): string {
  return `${what}: an agent token sees only the consultation threads it takes part in; pass agent_id = '${name}', or use an admin token for every thread`;
}
