/**
 * Test files that also run in the CLICKHOUSE_CLUSTER layout (vitest project `cluster`, see
 * vitest.config.ts): every file that opens its store with openTestStore(). The test in
 * test/cluster-layout.test.ts fails when a file is added or removed without this list.
 */
export const CLUSTER_LAYOUT_FILES: readonly string[] = [
  'src/alerts/store/alert-store.test.ts',
  'src/api/routes/alerts.test.ts',
  'src/attribution/day-cache.test.ts',
  'src/attribution/persisted-days.test.ts',
  'src/auth/auth.test.ts',
  'src/ingest/repeated-inserts.test.ts',
  'src/jobs/anomaly-scan.test.ts',
  'src/jobs/issue-statements.test.ts',
  'src/jobs/rollup.test.ts',
  'src/quotas/authority.test.ts',
  'src/statements/statement-service.test.ts',
  'src/telemetry/span-pipeline.test.ts',
  'src/telemetry/span-writer.test.ts',
  'test/integration/alertmanager.test.ts',
  'test/integration/quota-authority-http.test.ts',
];
