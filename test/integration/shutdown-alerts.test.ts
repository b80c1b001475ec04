import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../support/http-receiver.ts';
import { ADMIN_KEY, call, createKey, infer, startHarness, type Harness } from '../support/platform.ts';

/**
 * A graceful stop evaluates alerts one last time (found by dogfooding: a limit reached in a
 * minute's last seconds before a deploy was never paged, its peak lost with the process). The
 * scheduled evaluation is paused, so only the one at close can have opened the episodes.
 * Alertmanager keeps nothing of ours on disk, so it must be sent the page at the stop itself.
 */

const TENANT = 'shutdown-tenant';
let h: Harness;
/** Stands in for Alertmanager: it keeps nothing on disk for us, so it must get the page at the stop. */
let alertmanager: Receiver;
let CONFIG: Record<string, unknown>;

beforeAll(async () => {
  alertmanager = await startReceiver();
  CONFIG = { tenants: { [TENANT]: { quotas: { requests_per_minute: 3 } } }, alerts: { alertmanager: { url: alertmanager.url } } };
  h = await startHarness({ config: CONFIG });
});
afterAll(async () => {
  await h?.close();
  await alertmanager?.close();
});

describe('quota alerts at a graceful stop', () => {
  it('a crossing since the last evaluation is stored when the process stops, and listed after the restart', async () => {
    await h.platform.pauseJobs();
    const key = await createKey(h.baseUrl, TENANT);
    // The three requests must land in one minute (the limit is per minute).
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await infer(h.baseUrl, key, 'classifier-small')).status);
    expect(statuses).toEqual([200, 200, 200]);
    await h.close();
    // Alertmanager had both as firing before the process was gone (endsAt ahead of the stop).
    const atStop = alertmanager.received
      .filter((r) => r.path === '/api/v2/alerts')
      .flatMap((r) => JSON.parse(r.body) as Array<{ labels: Record<string, string>; endsAt: string }>)
      .filter((a) => a.labels.tenant === TENANT && Date.parse(a.endsAt) > Date.now());
    expect([...new Set(atStop.map((a) => a.labels.threshold))].sort()).toEqual(['0.8', '1']);
    h = await startHarness({ config: CONFIG, dataDir: h.dataDir });
    const res = await call<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>(h.baseUrl, 'GET', `/v1/alerts?tenant=${TENANT}`, { key: ADMIN_KEY });
    expect(res.status, res.text).toBe(200);
    expect(res.body.alerts.map((a) => `${a.labels.quota}@${a.labels.threshold}`).sort()).toEqual(['requests_per_minute@0.8', 'requests_per_minute@1']);
  });
});
