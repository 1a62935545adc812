import type { TestProject } from 'vitest/node';
import { findPgBinaries, startPgCluster } from '../../tools/pg-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL of the PostgreSQL the tests share; '' when none could be had (never under CI). */
    pgUrl: string;
    /** Why there is no PostgreSQL, for the skip message. */
    pgMissing: string;
  }
}

/**
 * vitest globalSetup: gives the tests one PostgreSQL. STONEGATE_TEST_PG_URL
 * names an existing server; otherwise a throwaway cluster is started from
 * the server binaries (tools/pg-cluster.ts) and deleted in teardown.
 * Test files each create their own database in it (test/helpers/pg.ts), so
 * they can run in parallel. Under CI=true a missing PostgreSQL fails the
 * run instead of skipping.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const given = process.env.STONEGATE_TEST_PG_URL;
  if (given !== undefined && given !== '') {
    project.provide('pgUrl', given);
    project.provide('pgMissing', '');
    return () => undefined;
  }
  const bin = findPgBinaries();
  if (bin === undefined) {
    const why = 'no PostgreSQL server binaries (initdb) found; install the postgresql package or set STONEGATE_TEST_PG_URL';
    if (process.env.CI === 'true') throw new Error(`PostgreSQL tests cannot run under CI: ${why}`);
    project.provide('pgUrl', '');
    project.provide('pgMissing', why);
    return () => undefined;
  }
  const cluster = await startPgCluster(bin);
  project.provide('pgUrl', cluster.url);
  project.provide('pgMissing', '');
  return cluster.stop;
}
