import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, call, createKey, infer, startHarness, type Harness } from '../support/platform.ts';

/**
 * A graceful stop evaluates alerts one last time (found by dogfooding: a limit reached in a
 * minute's last seconds before a deploy was never paged, its peak lost with the process). The
 * scheduled evaluation is paused, so only the one at close can have opened the episodes.
 */

const TENANT = 'shutdown-tenant';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ config: { tenants: { [TENANT]: { quotas: { requests_per_minute: 3 } } } } });
});
afterAll(() => h?.close());

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
    h = await h.restart();
    const res = await call<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>(h.baseUrl, 'GET', `/v1/alerts?tenant=${TENANT}`, { key: ADMIN_KEY });
    expect(res.status, res.text).toBe(200);
    expect(res.body.alerts.map((a) => `${a.labels.quota}@${a.labels.threshold}`).sort()).toEqual(['requests_per_minute@0.8', 'requests_per_minute@1']);
  });
});
