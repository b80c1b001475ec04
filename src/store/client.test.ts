import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from './client.ts';

/**
 * Closing the store while work is still in flight, as a shutdown does when a job (the cost gauge
 * pricing a month) is mid-run: the embedded engine takes the whole process down with SIGSEGV if
 * it is called during or after its close, so the store must wait for the calls in flight and
 * refuse the rest. Opened with openStore, not openTestStore: this is about the client, not the
 * schema, and needs no migrations.
 */
describe('store close', () => {
  it('waits for calls in flight, then refuses new ones with `unavailable` instead of crashing the process', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'il-store-close-'));
    try {
      const store = await openStore({ dataDir });
      const slow = store.query<{ n: string }>({ query: 'SELECT toString(count()) AS n FROM numbers(200000000)' });
      const closed = store.close();
      await expect(slow).resolves.toEqual([{ n: '200000000' }]);
      await closed;
      await expect(store.query({ query: 'SELECT 1' })).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('shutting down') });
      await expect(store.insert('anything', [{ a: 1 }])).rejects.toMatchObject({ kind: 'unavailable' });
      await expect(store.command('SELECT 1')).rejects.toMatchObject({ kind: 'unavailable' });
      expect(await store.ping()).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
