import type { Migration } from './migrations.js';
import { BATCH_FUNCTIONS } from './pg/batch-functions.js';

/*
 * Step 10 of the coordination schema ([pg-speed], issue #31), PostgreSQL
 * only; SQLite's step is empty so both engines report one version. Sends
 * and polls that meet at a gateway commit together (pg/batch-functions.ts
 * has the lock-order argument, pg/call-group.ts the grouping); the single
 * functions of step 9 are unchanged and still serve a call that goes alone.
 */
export const BATCHES: Migration = {
  version: 10,
  name: 'sends and polls that meet commit together',
  sql: '-- SQLite: nothing to change (its group commit is in the gateway)\nSELECT 1;',
  postgres: BATCH_FUNCTIONS,
};
