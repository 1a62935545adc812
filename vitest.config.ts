import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // One throwaway PostgreSQL for the store tests (or STONEGATE_TEST_PG_URL).
    globalSetup: ['test/helpers/pg-global-setup.ts'],
  },
});
