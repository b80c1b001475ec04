import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from './client.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The embedded engine allows one process per data directory. A second one (`inferledger
 * migrate` while `up` runs on the same directory) used to stop with the engine's bare "Failed to
 * create connection"; it must say what usually causes that and what to do.
 */
describe('a data directory another process holds', () => {
  it('is refused with the cause and the way out, and the holder is not disturbed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'il-data-dir-lock-'));
    const store = await openStore({ dataDir });
    try {
      await store.query({ query: 'SELECT 1' });
      const child = spawnSync(process.execPath, [join(ROOT, 'bin/inferledger.js'), 'migrate'], {
        env: { ...process.env, INFERLEDGER_DATA_DIR: dataDir, CLICKHOUSE_URL: '' },
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(child.status, child.stderr).toBe(1);
      expect(child.stderr).toContain(`could not open the embedded ClickHouse in ${join(dataDir, 'clickhouse')}`);
      expect(child.stderr).toContain('One process per data directory: if an inferledger up or api is running on it, stop it');
      expect(await store.query<{ one: number }>({ query: 'SELECT 1 AS one' })).toEqual([{ one: 1 }]);
    } finally {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
