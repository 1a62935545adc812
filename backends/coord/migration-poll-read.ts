import type { Migration } from './migrations.js';
import { READ_FUNCTIONS } from './pg/read-functions.js';

/*
 * Step 12 of the coordination schema ([pg-speed], issue #31), PostgreSQL
 * only; SQLite's step is empty so both engines report one version. A
 * poll's page read looks up only the page's rows whatever plan PostgreSQL
 * keeps for it, and a send's inbox rows no longer lock their message for a
 * foreign key (pg/read-functions.ts has both arguments).
 */
export const POLL_READ: Migration = {
  version: 12,
  name: "a poll reads only its page's rows; inbox rows without a foreign key",
  sql: '-- SQLite: nothing to change\nSELECT 1;',
  postgres: READ_FUNCTIONS,
};
