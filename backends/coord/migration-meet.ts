import type { Migration } from './migrations.js';
import { MEET_FUNCTIONS } from './pg/meet-functions.js';

/*
 * Step 11 of the coordination schema ([pg-speed], issue #31), PostgreSQL
 * only; SQLite's step is empty so both engines report one version. The
 * sends and polls that meet at a gateway commit in one transaction
 * (pg/meet-functions.ts has the lock-order argument, pg/message-calls.ts
 * the grouping); the functions of steps 9 and 10 are unchanged and serve
 * a call that goes alone and a batch of one kind.
 */
export const MEET: Migration = {
  version: 11,
  name: 'sends and polls that meet commit in one transaction',
  sql: '-- SQLite: nothing to change (its group commit is in the gateway)\nSELECT 1;',
  postgres: MEET_FUNCTIONS,
};
