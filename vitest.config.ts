import { defineConfig } from 'vitest/config';
import { CLUSTER_LAYOUT_FILES } from './test/support/cluster-files.ts';

export default defineConfig({
  test: {
    // chdb allows one data directory per process: every test file gets its own process.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'single', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] } },
      // The same SQL through Distributed tables (CLICKHOUSE_CLUSTER's layout, one local shard).
      { extends: true, test: { name: 'cluster', include: [...CLUSTER_LAYOUT_FILES], env: { INFERLEDGER_TEST_LAYOUT: 'cluster' } } },
    ],
  },
});
