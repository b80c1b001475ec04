import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // chdb allows one data directory per process: every test file gets its own process.
    pool: 'forks',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
