import type { Migration } from './migrations.js';
import { HANDOFF_FUNCTIONS } from './pg/handoff-functions.js';

/*
 * Step 9 of the coordination schema ([pg-speed], issue #31), PostgreSQL
 * only; SQLite's step is empty so both engines report one version. A send
 * can hand its message to a long-poll parked on its gateway, and task writes
 * take the agent's advisory lock instead of its row lock (the arguments are
 * in pg/handoff-functions.ts). coord_send's signature changes, so a gateway
 * still on step 8 fails its sends loudly rather than silently.
 */
export const HANDOFF: Migration = {
  version: 9,
  name: 'sends hand off to parked polls; task writes without agent row locks',
  sql: '-- SQLite: nothing to change\nSELECT 1;',
  postgres: HANDOFF_FUNCTIONS,
};
