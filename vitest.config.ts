import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/*
 * Four projects, one `vitest run` (npm test) runs them all; `--project NAME`
 * (npm run test:unit, …) runs one. A file belongs to one project:
 * - postgres: needs a PostgreSQL (test/helpers/pg.ts). Only this project has
 *   the globalSetup that starts the throwaway cluster; describePg refuses to
 *   run in any other project, so a file missing from the list fails loudly.
 * - browser: drives chromium (test/ui/, test/issues/33-dashboard*).
 * - integration: starts the real gateway, a coord server or other child
 *   processes (test/integration/, test/issues/, test/conformance/, and the
 *   files listed below).
 * - unit: everything else (in-process, no PostgreSQL); runs in seconds.
 */
const POSTGRES = [
  'test/coord/pg-shared.test.ts',
  'test/coord/pg-store.test.ts',
  'test/dispatch/store.test.ts',
  'test/integration/coord-standalone-pg.test.ts',
  'test/integration/multi-gateway.test.ts',
  'test/issues/29-push-pg.test.ts', // [coord-push]
  'test/issues/31-pg-group-commit.test.ts', // [pg-speed] sends and polls that meet commit together
  'test/issues/31-pg-meet.test.ts', // [pg-speed] sends and polls that meet commit in one transaction
  'test/issues/31-pg-handoff.test.ts', // [pg-speed] sends handed to parked polls
  'test/issues/31-pg-poll-gone.test.ts', // [pg-speed] a poll whose caller left in its batch's wait
  'test/issues/31-pg-health-down.test.ts', // [pg-speed] /health down while PostgreSQL is down
  'test/issues/31-pg-poll-memo.test.ts', // [pg-speed] a poll right after a read that emptied the inbox
  'test/issues/31-pg-poll-read.test.ts', // [pg-speed] a poll reads only its page's messages; inbox rows without a foreign key
  'test/issues/31-pg-one-listener.test.ts', // [pg-speed] one LISTEN connection per gateway
  'test/issues/31-pg-speed.test.ts', // [pg-speed]
  'test/issues/31-shared-fingerprints.test.ts', // [pg-speed] shared tool fingerprints
  'test/store/audit-store.test.ts',
  'test/store/fingerprint-store.test.ts', // [pg-speed] shared tool fingerprints
  'test/store/pg-cluster.test.ts',
  'test/store/runtime-backends.test.ts',
];
// [dashboard] #33's chromium tests sit with the issue's regressions but drive the browser.
const BROWSER = ['test/ui/**/*.test.ts', 'test/issues/33-dashboard*.test.ts'];
const INTEGRATION = [
  'test/integration/**/*.test.ts',
  'test/issues/**/*.test.ts',
  'test/conformance/**/*.test.ts',
  'test/backends/demo.test.ts',
  'test/cli/doctor.test.ts',
  'test/cli/init.test.ts',
  'test/cli/serve-summary.test.ts',
  'test/coord/standalone.test.ts',
  'test/coord/standalone-caps.test.ts', // starts the standalone coord server, as standalone.test.ts does
  'test/fixtures/conformance-modern.test.ts',
  'test/fixtures/fixtures.test.ts',
  'test/store/lazy-pg.test.ts',
];
const ALL = ['test/**/*.test.ts', 'bench/**/*.test.ts'];

/*
 * [speed] The longest files (30-90 s each on the 2-core machines, most of it waiting on the processes they start),
 * started first. vitest orders files by the durations of its last run, kept in node_modules/.vite; without them
 * (a fresh `npm ci`, as CI runs) it starts the largest files first, and these are short files: the conformance
 * suites, 73-129 lines, started among the last and ran alone for their last minute. Longest first, from the
 * durations of 2026-12-07 (node_modules/.vite/vitest/…/results.json); the other files keep vitest's order.
 */
const LONG_FIRST = [
  'test/issues/31-pg-speed.test.ts',
  'test/integration/runtime.test.ts',
  'test/conformance/direct-2026.test.ts',
  'test/conformance/gateway-2026-modern.test.ts',
  'test/coord/pg-store.test.ts',
  'test/issues/30-heap.test.ts',
  'test/issues/30-idle-cpu.test.ts',
  'test/conformance/oauth-upstream-client.test.ts',
  'test/issues/31-shared-fingerprints.test.ts',
  'test/issues/32-otel.test.ts',
  'test/issues/25-backend-tasks.test.ts',
  'test/issues/30-idle-memory.test.ts',
  'test/issues/28-reload.test.ts',
  'test/integration/coord-timeout.test.ts',
  'test/issues/33-dashboard.test.ts',
];

class LongFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = LONG_FIRST.findIndex((path) => f.moduleId.endsWith(`/${path}`));
      return i === -1 ? LONG_FIRST.length : i;
    };
    // Array.prototype.sort is stable: the rest keep vitest's own order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    // [flaky] Bounds for a test or hook that hangs, never a speed check (tests assert no wall-clock limit): at
    // load 15–23 on the 2-core machines, a hook starting two gateways or a test starting a third took over 30 s.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    sequence: { sequencer: LongFirst },
    // Three test files at a time on the 2-core machines: most integration files wait on child processes
    // and sockets (npm test used ~65 % of two cores with two forks), so a third fork fills that wait.
    // [speed] The unit project runs in two worker threads that keep their modules from file to file (vitest, the SDK
    // and src/ are imported once per thread, not once per file): `vitest run --project unit` took 90.6 s user + 13.7 s
    // sys in isolated forks (21:10 UTC, load 9-10) and 24.7 + 3.4 s so (21:30, load 16). Its files run in process (a
    // few wait for a short-lived child) and restore what they change of process.env; a file that starts a server
    // process is an integration file. Not isolate: false for the forks: vitest then runs the projects one after
    // another, each waiting for its last file (and one such run ended in tinypool's 'Terminating worker thread').
    poolOptions: { forks: { maxForks: 3, minForks: 1 }, threads: { isolate: false, maxThreads: 2, minThreads: 1 } },
    projects: [
      { extends: true, test: { name: 'unit', pool: 'threads', include: ALL, exclude: [...configDefaults.exclude, ...POSTGRES, ...BROWSER, ...INTEGRATION] } },
      // [flaky] kill-spawned: no gateway a timed-out test left starting outlives its file.
      {
        extends: true,
        test: {
          name: 'integration',
          include: INTEGRATION,
          exclude: [...configDefaults.exclude, ...POSTGRES, ...BROWSER],
          setupFiles: ['test/helpers/kill-spawned.ts'],
        },
      },
      {
        extends: true,
        // One throwaway PostgreSQL for the store tests (or STONEGATE_TEST_PG_URL).
        test: { name: 'postgres', include: POSTGRES, globalSetup: ['test/helpers/pg-global-setup.ts'], setupFiles: ['test/helpers/kill-spawned.ts'] },
      },
      { extends: true, test: { name: 'browser', include: BROWSER } },
    ],
  },
});
