import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/client.ts';
import { migrate } from '../../src/store/migrate.ts';

/**
 * A real embedded ClickHouse (chdb) in a fresh temp directory, migrated. chdb allows one data
 * directory per process and vitest runs each test file in its own fork, so call this once per
 * file (beforeAll) and keep tests apart by tenant id.
 */
export async function openTestStore(): Promise<{ store: Store; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-test-'));
  const store = await openStore({ dataDir });
  await migrate(store, { rawTtlDays: 3650 });
  return { store, dataDir };
}
