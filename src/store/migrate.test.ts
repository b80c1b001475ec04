import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from './client.ts';
import { loadMigrations, migrate, renderMigration, splitStatements } from './migrate.ts';

describe('renderMigration', () => {
  it.each([
    [undefined, 'CREATE TABLE t  (a UInt8) ENGINE = ReplacingMergeTree(v) TTL 30'],
    ['main', 'CREATE TABLE t ON CLUSTER main (a UInt8) ENGINE = ReplicatedReplacingMergeTree(v) TTL 30'],
  ])('cluster %s', (cluster, expected) => {
    const sql = 'CREATE TABLE t {{on_cluster}} (a UInt8) ENGINE = {{engine:ReplacingMergeTree(v)}} TTL {{raw_ttl_days}}';
    expect(renderMigration(sql, { cluster, rawTtlDays: 30 })).toBe(expected);
  });

  it('leaves no placeholder in any shipped migration', () => {
    for (const m of loadMigrations()) {
      expect(renderMigration(m.sql, { cluster: 'c', rawTtlDays: 7 })).not.toMatch(/\{\{/);
    }
  });
});

describe('splitStatements', () => {
  it('drops comments and splits on statement ends', () => {
    expect(splitStatements('-- a; comment\nSELECT 1;\n\nSELECT 2 -- tail\n;')).toEqual(['SELECT 1', 'SELECT 2']);
  });
});

describe('migrate (chdb)', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), 'il-migrate-')) });
  });
  afterAll(() => store.close());

  it('applies every migration once and is idempotent', async () => {
    const first = await migrate(store, { rawTtlDays: 30 });
    expect(first.applied).toEqual(loadMigrations().map((m) => m.name));
    const second = await migrate(store, { rawTtlDays: 30 });
    expect(second).toEqual({ applied: [], alreadyApplied: loadMigrations().length });

    const tables = await store.query<{ name: string }>({
      query: "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name",
    });
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(['otel_traces', 'requests', 'requests_mv', 'usage_hourly', 'resource_samples', 'gpu_samples', 'api_keys', 'schema_migrations']),
    );
    // The collector ClickHouse exporter's metric tables, by its default names (0006, 0007).
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(['otel_metrics_gauge', 'otel_metrics_sum', 'otel_metrics_histogram', 'otel_metrics_exponential_histogram', 'otel_metrics_summary']),
    );
    const columns = async (table: string) =>
      (await store.query<{ name: string }>({ query: 'SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position', params: { t: table } })).map((c) => c.name);
    const common = ['ResourceAttributes', 'ResourceSchemaUrl', 'ScopeName', 'ScopeVersion', 'ScopeAttributes', 'ScopeDroppedAttrCount', 'ScopeSchemaUrl', 'ServiceName', 'MetricName', 'MetricDescription', 'MetricUnit', 'Attributes', 'StartTimeUnix', 'TimeUnix'];
    const exemplars = ['Exemplars.FilteredAttributes', 'Exemplars.TimeUnix', 'Exemplars.Value', 'Exemplars.SpanId', 'Exemplars.TraceId'];
    expect(await columns('otel_metrics_exponential_histogram')).toEqual([
      ...common,
      ...['Count', 'Sum', 'Scale', 'ZeroCount', 'PositiveOffset', 'PositiveBucketCounts', 'NegativeOffset', 'NegativeBucketCounts'],
      ...exemplars,
      ...['Flags', 'Min', 'Max', 'AggregationTemporality'],
    ]);
    expect(await columns('otel_metrics_summary')).toEqual([...common, 'Count', 'Sum', 'ValueAtQuantiles.Quantile', 'ValueAtQuantiles.Value', 'Flags']);
  });
});
