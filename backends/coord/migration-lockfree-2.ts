import type { Migration } from './migrations.js';
import { MESSAGE_FUNCTIONS } from './pg/message-functions.js';
import { TASK_FUNCTIONS } from './pg/task-functions.js';

/*
 * Step 8 of the coordination schema ([pg-speed], issue #31, after step 7's
 * migration-lockfree.ts), PostgreSQL only; SQLite's step is empty so both
 * engines report one version.
 *
 * - The write functions no longer NOTIFY: the gateway announces committed
 *   topics itself (kit/pg-announcer.ts has why). Their signatures lose the
 *   p_notify argument, so a gateway still on step 7 fails its writes loudly
 *   instead of leaving the other gateways without wake-ups.
 * - Last-seen times are written at most once a second per agent (coord_seen).
 *
 * The ordering arguments of step 7 hold unchanged: the functions take the
 * same locks in the same order before they take an id.
 */
export const LOCK_FREE_WRITES: Migration = {
  version: 8,
  name: 'wake-ups after commit, last-seen once a second',
  sql: '-- SQLite: nothing to change\nSELECT 1;',
  postgres: `${MESSAGE_FUNCTIONS}\n${TASK_FUNCTIONS}`,
};
