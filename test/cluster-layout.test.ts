import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/client.ts';
import { loadMigrations, migrate } from '../src/store/migrate.ts';
import { CLUSTER_LAYOUT_FILES } from './support/cluster-files.ts';
import { openTestStore, TEST_CLUSTER } from './support/store.ts';

/**
 * The CLICKHOUSE_CLUSTER layout, run for real on the embedded engine with a one-shard cluster
 * (see openTestStore). The files in CLUSTER_LAYOUT_FILES also run whole in this layout (the
 * `cluster` vitest project), so ingest, rollups, attribution, statements, keys, quotas and alerts
 * go through Distributed tables too.
 */

const ROOT = join(import.meta.dirname, '..');

let store: Store;
beforeAll(async () => {
  ({ store } = await openTestStore({ layout: 'cluster' }));
});
afterAll(() => store?.close());

interface TableRow {
  name: string;
  engine: string;
  engine_full: string;
  sorting_key: string;
}

const tables = () =>
  store.query<TableRow>({
    query: 'SELECT name, engine, engine_full, sorting_key FROM system.tables WHERE database = currentDatabase() ORDER BY name',
  });

describe('cluster layout (one-shard cluster on chdb)', () => {
  it('puts every table behind a Distributed table of the same name, over <name>_local', async () => {
    const all = await tables();
    const distributed = all.filter((t) => t.engine === 'Distributed');
    expect(distributed.length).toBe(18); // 17 from the migrations + schema_migrations
    for (const d of distributed) {
      expect(d.engine_full).toMatch(new RegExp(`^Distributed\\('${TEST_CLUSTER}', '\\w+', '${d.name}_local', `));
      expect(all.find((t) => t.name === `${d.name}_local`)?.engine).toMatch(/MergeTree$/);
    }
    expect(all.find((t) => t.name === 'requests_mv')?.engine).toBe('MaterializedView');
  });

  it('shards rows that replace each other together: each sharding key uses only its table\'s sorting key columns', async () => {
    const all = await tables();
    const keyOf = (name: string) => /, '\w+_local', (.+)\)$/.exec(all.find((t) => t.name === name)!.engine_full)?.[1];
    for (const local of all.filter((t) => t.engine === 'ReplacingMergeTree')) {
      const table = local.name.replace(/_local$/, '');
      const sortingColumns = local.sorting_key.split(', ');
      const key = keyOf(table)!;
      const keyColumns = /^cityHash64\((\w+)\)$/.exec(key)?.[1] ?? key;
      expect(sortingColumns, `${table}: sharding key ${key}, sorting key ${local.sorting_key}`).toContain(keyColumns);
    }
    // Spans are not replaced, but each shard's view turns its spans into requests: a span and its
    // request must be sharded by the same value (requests.trace_id is the span's TraceId).
    expect(keyOf('otel_traces')).toBe('cityHash64(TraceId)');
    expect(keyOf('requests')).toBe('cityHash64(trace_id)');
    // A repeated insert is dropped per shard by block hash (0008): the same rows must go to the
    // same shards every time, so no table shards at random.
    for (const d of all.filter((t) => t.engine === 'Distributed')) expect(keyOf(d.name), d.name).not.toMatch(/rand/i);
  });

  it('migrates once: a second run finds every migration applied through the Distributed ledger', async () => {
    const again = await migrate(store, { cluster: TEST_CLUSTER, rawTtlDays: 3650, withoutReplication: true });
    expect(again).toEqual({ applied: [], alreadyApplied: loadMigrations().length });
  });

  it('sends the cluster settings with every query: inserts land on their shards before the answer, subqueries are GLOBAL', async () => {
    const [settings] = await store.query<{ sync: string; mode: string }>({
      query: "SELECT toString(getSetting('insert_distributed_sync')) AS sync, toString(getSetting('distributed_product_mode')) AS mode",
    });
    expect(settings).toEqual({ sync: 'true', mode: 'global' });
  });

  // On several shards ClickHouse refuses such a query by default (distributed_product_mode =
  // deny); the store sets GLOBAL on a cluster. One shard cannot show the refusal, only the answer.
  it('answers a subquery over a Distributed table inside a query over one', async () => {
    await store.insert('usage_hourly', [{ tenant_id: 'cl-a', hour: '2026-01-01 00:00:00', model: 'm', model_variant: 'm', instance_id: 'i', requests: 3, computed_at: '2026-01-01 01:00:00' }]);
    const query = "SELECT tenant_id, sum(requests) AS requests FROM usage_hourly WHERE tenant_id IN (SELECT tenant_id FROM usage_hourly WHERE tenant_id LIKE 'cl-%') GROUP BY tenant_id";
    expect(await store.query({ query })).toEqual([{ tenant_id: 'cl-a', requests: '3' }]);
  });
});

describe('the cluster vitest project', () => {
  it('runs every test file that opens a test store, so none is checked on one node only', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.test.ts') && /\bopenTestStore\(\)/.test(readFileSync(path, 'utf8'))) files.push(relative(ROOT, path));
      }
    };
    walk(join(ROOT, 'src'));
    walk(join(ROOT, 'test'));
    expect([...CLUSTER_LAYOUT_FILES].sort()).toEqual(files.sort());
  });
});
