import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, startHarness } from '../support/platform.ts';

/**
 * Without a writable spool nothing is crash-safe (the span journal and the outage spool live
 * there). Found by dogfooding: on a read-only or full spool the process started, stayed ready,
 * answered 200s and lost them in a crash. The probe file's path taken by a directory makes the
 * write fail deterministically (chmod would not stop root).
 */
describe('a spool that cannot be written', () => {
  // One data directory for both: the embedded ClickHouse takes one per process.
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-spool-ro-'));
  const blocker = join(dataDir, 'spool', `.probe-${process.pid}`);

  it('refuses to start, naming the spool and the cause', async () => {
    mkdirSync(blocker, { recursive: true });
    await expect(startHarness({ dataDir })).rejects.toThrow(/the spool .*spool cannot be written \(EISDIR.*free space or fix its permissions/);
    rmSync(blocker, { recursive: true });
  });

  it('makes a running process not ready (503, checks.spool false) until it can be written again', async () => {
    const h = await startHarness({ dataDir });
    const ready = () => call<{ status: string; checks: Record<string, boolean> }>(h.baseUrl, 'GET', '/readyz');
    try {
      expect((await ready()).body).toEqual({ status: 'ok', checks: { clickhouse: true, spool: true } });
      mkdirSync(blocker);
      const broken = await ready();
      expect(broken.status).toBe(503);
      expect(broken.body).toEqual({ status: 'unavailable', checks: { clickhouse: true, spool: false } });
      rmSync(blocker, { recursive: true });
      expect((await ready()).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});
