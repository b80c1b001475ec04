import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/client.ts';
import { migrate } from '../../src/store/migrate.ts';

/** The cluster the `cluster` layout defines for the embedded engine: one shard, this node. */
export const TEST_CLUSTER = 'inferledger_test';

export type TestLayout = 'single' | 'cluster';

/**
 * A real embedded ClickHouse (chdb) in a fresh temp directory, migrated. chdb allows one data
 * directory per process and vitest runs each test file in its own fork, so call this once per
 * file (beforeAll) and keep tests apart by tenant id.
 *
 * Layout `cluster` (or INFERLEDGER_TEST_LAYOUT=cluster for every file that does not choose)
 * migrates as for CLICKHOUSE_CLUSTER: `<table>_local` tables behind Distributed tables, views on
 * the local tables, the cluster's insert and subquery settings. The engine has no Keeper, so
 * there is no `ON CLUSTER` and no Replicated engine; its one-shard cluster comes from a
 * config.xml, which chdb reads from the working directory when it starts. The shard is this node
 * (localhost at the configured tcp_port), so Distributed reads and writes run in process; chdb
 * listens on no port.
 */
export async function openTestStore(opts: { layout?: TestLayout } = {}): Promise<{ store: Store; dataDir: string }> {
  const layout = opts.layout ?? (process.env.INFERLEDGER_TEST_LAYOUT === 'cluster' ? 'cluster' : 'single');
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-test-'));
  if (layout === 'single') {
    const store = await openStore({ dataDir });
    await migrate(store, { rawTtlDays: 3650 });
    return { store, dataDir };
  }
  const configDir = join(dataDir, 'chdb-config');
  mkdirSync(configDir);
  writeFileSync(
    join(configDir, 'config.xml'),
    `<clickhouse><tcp_port>9000</tcp_port><remote_servers><${TEST_CLUSTER}><shard><internal_replication>true</internal_replication>` +
      `<replica><host>localhost</host><port>9000</port></replica></shard></${TEST_CLUSTER}></remote_servers></clickhouse>\n`,
  );
  const home = process.cwd();
  process.chdir(configDir);
  let store: Store;
  try {
    store = await openStore({ dataDir, cluster: TEST_CLUSTER });
    await store.query({ query: 'SELECT 1' }); // the engine starts, and reads config.xml, on its first query
  } finally {
    process.chdir(home);
  }
  await migrate(store, { cluster: TEST_CLUSTER, rawTtlDays: 3650, withoutReplication: true });
  return { store, dataDir };
}
