import { backupStore, type CopyReport, restoreStore } from '../../backends/coord/backup.js';
import { type CoordOptions, CoordOptionsSchema } from '../../backends/coord/options.js';
import { isPostgresUrl } from '../../backends/coord/postgres-url.js';
import type { CoordStore } from '../../backends/coord/store.js';
import type { BuiltinBackend } from './builtin-backend.js';

/*
 * The one door between the gateway and the coordination backend: with
 * coord-mount.ts (what mounting takes, imported only when a config mounts
 * coord), the only file of src/ that imports backends/coord. It mounts coord
 * (store, REST routes, backend entry), declares the identity fields coord's
 * calls and routes carry, and hands the CLI and the config what they need of
 * coord.
 */

export type { CoordStore };
export { backupStore, type CoordOptions, CoordOptionsSchema, type CopyReport, isPostgresUrl, restoreStore };

/** `stonegate coord`: the standalone coordination server in this process (it then owns the process). */
export async function runCoord(argv: readonly string[]): Promise<void> {
  const { run } = await import('../../backends/coord/main.js');
  await run(argv);
}

/** coord-mount.ts once coordBuiltin.load() has imported it. */
let mounting: typeof import('./coord-mount.js') | undefined;

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
  load: async () => {
    mounting ??= await import('./coord-mount.js');
  },
  mount: (context) => {
    if (mounting === undefined) throw new Error('the built-in coordination backend is not loaded: await loadBuiltins(config) before building the Gateway');
    return mounting.mountCoord(context);
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
