import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from './client.ts';
import { loadMigrations, migrate, renderMigration, renderStatements, SHARDING_KEYS, splitStatements } from './migrate.ts';

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

describe('renderStatements (cluster layout)', () => {
  const all = (opts: Parameters<typeof renderStatements>[1]) => loadMigrations().flatMap((m) => renderStatements(m.sql, opts));

  it('renders exactly the template without a cluster', () => {
    for (const m of loadMigrations()) {
      expect(renderStatements(m.sql, { rawTtlDays: 7 })).toEqual(splitStatements(renderMigration(m.sql, { rawTtlDays: 7 })));
    }
  });

  it('creates every table as a replicated <table>_local on the cluster plus a Distributed <table> over it', () => {
    const statements = all({ cluster: 'main', rawTtlDays: 7 });
    const created = statements.flatMap((s) => /^CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER main \(/.exec(s)?.[1] ?? []);
    expect(created.length).toBe(17);
    for (const local of created) {
      const table = local.replace(/_local$/, '');
      expect(local).toBe(`${table}_local`);
      const own = statements.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${local} `))!;
      expect(own).toMatch(/ENGINE = Replicated(Replacing)?MergeTree/);
      expect(statements).toContain(
        `CREATE TABLE IF NOT EXISTS ${table} ON CLUSTER main AS ${local} ENGINE = Distributed(main, currentDatabase(), ${local}, ${SHARDING_KEYS[table]})`,
      );
    }
    // The requests view runs on each shard, from its spans to its requests.
    const view = statements.find((s) => s.startsWith('CREATE MATERIALIZED VIEW'))!;
    expect(view).toMatch(/^CREATE MATERIALIZED VIEW IF NOT EXISTS requests_mv ON CLUSTER main TO requests_local AS/);
    expect(view).toMatch(/FROM otel_traces_local\s+WHERE/);
    // Its later SELECT (MODIFY QUERY) reads the local spans too.
    const modified = statements.filter((s) => /^ALTER TABLE requests_mv ON CLUSTER main MODIFY QUERY/.test(s));
    expect(modified).toHaveLength(1);
    expect(modified[0]).toMatch(/FROM otel_traces_local\s+WHERE/);
    // A column added later is added to the local table first, then to the Distributed one.
    const alters = statements.filter((s) => s.startsWith('ALTER TABLE') && !s.includes('MODIFY QUERY') && !s.includes('MODIFY SETTING'));
    expect(alters.map((s) => s.split(' ADD')[0])).toEqual(['ALTER TABLE resource_samples_local ON CLUSTER main', 'ALTER TABLE resource_samples ON CLUSTER main']);
    // A storage setting changes the replicated local tables only (a Distributed table has none);
    // the non-replicated deduplication window none at all (Replicated tables deduplicate anyway).
    const settings = statements.filter((s) => s.includes('MODIFY SETTING'));
    expect(settings.every((s) => /^ALTER TABLE \w+_local ON CLUSTER main MODIFY SETTING ratio_of_defaults_for_sparse_serialization = 1$/.test(s))).toBe(true);
    expect(settings).toHaveLength(6);
  });

  it('refuses a table that has no sharding key, so a new migration cannot forget to choose one', () => {
    expect(() => renderStatements('CREATE TABLE IF NOT EXISTS mystery {{on_cluster}} (a UInt8) ENGINE = {{engine:MergeTree}} ORDER BY a', { cluster: 'c', rawTtlDays: 1 })).toThrow(
      /table mystery has no sharding key: add it to SHARDING_KEYS/,
    );
  });

  it('leaves out ON CLUSTER and Replicated engines without replication (the test layout)', () => {
    const statements = all({ cluster: 'c', rawTtlDays: 7, withoutReplication: true });
    expect(statements.join('\n')).not.toMatch(/ON CLUSTER|Replicated/);
    expect(statements.filter((s) => s.includes('ENGINE = Distributed(c,')).length).toBe(17);
    // 0008's storage setting goes to the unreplicated local tables only (a Distributed table takes none).
    const settings = statements.filter((s) => s.includes('non_replicated_deduplication_window'));
    expect(settings).toHaveLength(6);
    for (const s of settings) expect(s).toMatch(/^ALTER TABLE \w+_local +MODIFY SETTING/);
  });

  it('leaves the dedup window out on replicated clusters, whose tables deduplicate inserts already', () => {
    expect(all({ cluster: 'main', rawTtlDays: 7 }).filter((s) => s.includes('non_replicated_deduplication_window'))).toEqual([]);
    expect(all({ rawTtlDays: 7 }).filter((s) => s.includes('non_replicated_deduplication_window'))).toHaveLength(6);
  });
});

describe('splitStatements', () => {
  it('changes a TTL on the local table only (a Distributed table has none)', () => {
    expect(renderStatements('ALTER TABLE requests {{on_cluster}} MODIFY TTL toDateTime(ts) + toIntervalDay({{raw_ttl_days}})', { cluster: 'main', rawTtlDays: 7 })).toEqual([
      'ALTER TABLE requests_local ON CLUSTER main MODIFY TTL toDateTime(ts) + toIntervalDay(7)',
    ]);
  });

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

  it('applies a changed clickhouse.raw_ttl_days to the raw tables at the next start, once', async () => {
    const ttlOf = async (table: string) =>
      /toIntervalDay\((\d+)\)/.exec(
        (await store.query<{ e: string }>({ query: 'SELECT engine_full AS e FROM system.tables WHERE database = currentDatabase() AND name = {t:String}', params: { t: table } }))[0]!.e,
      )?.[1];
    await migrate(store, { rawTtlDays: 30 });
    const logs: string[] = [];
    await migrate(store, { rawTtlDays: 90 }, (l) => logs.push(l));
    for (const table of ['otel_traces', 'requests', 'otel_metrics_sum', 'otel_metrics_summary']) expect(await ttlOf(table)).toBe('90');
    expect(logs).toContain('clickhouse.raw_ttl_days: requests keeps 90 days of rows from now on (was 30)');
    expect(logs.filter((l) => l.startsWith('clickhouse.raw_ttl_days'))).toHaveLength(7);
    const again: string[] = [];
    await migrate(store, { rawTtlDays: 90 }, (l) => again.push(l));
    expect(again).toEqual([]);
    await migrate(store, { rawTtlDays: 30 });
    expect(await ttlOf('requests')).toBe('30');
  });

  it('refuses a database migrated by a newer version (a rollback), naming what it does not know', async () => {
    await migrate(store, { rawTtlDays: 30 });
    await store.insert('schema_migrations', [{ version: 9999, name: '9999_from_the_future', checksum: 'x', applied_at: new Date().toISOString() }]);
    await expect(migrate(store, { rawTtlDays: 30 })).rejects.toThrow(
      /migrated by a newer inferledger \(9999_from_the_future unknown to this version\): run that version or a later one/,
    );
  });
});
