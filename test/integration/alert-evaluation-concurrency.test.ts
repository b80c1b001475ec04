import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertJson } from '../../src/alerts/alert-json.ts';
import { ADMIN_KEY, call, createKey, infer, startHarness, type Harness } from '../support/platform.ts';

/**
 * Evaluations that overlap in one process (the `alerts` job and a manual `evaluateAlerts()`, as
 * in the demo and the tests) must not both open an episode for the same crossing: they run one
 * after the other. The job is switched off (a cron that fires once a year) so only the calls here
 * evaluate.
 */

const T = 'race-a';
let h: Harness;
let key: string;

beforeAll(async () => {
  h = await startHarness({
    config: { tenants: { [T]: { quotas: { requests_per_minute: 5 } } }, alerts: { evaluate_cron: '0 0 0 1 1 *' } },
  });
  key = await createKey(h.baseUrl, T);
});

afterAll(async () => {
  await h?.close();
});

describe('overlapping alert evaluations', () => {
  it('open one episode per crossing, not one per evaluation', async () => {
    // 4 of 5 is 80 %, whatever the minute: even if it rolls over between requests, the ratio is
    // then lower and no alert may fire at all, never two.
    for (let i = 0; i < 4; i++) expect((await infer(h.baseUrl, key, 'classifier-small')).status).toBe(200);
    // Ten evaluations started 2 ms apart (so each has its own `now`, hence its own would-be
    // episode start) while the earlier ones are still reading and writing.
    const runs: Array<Promise<void>> = [];
    for (let i = 0; i < 10; i++) {
      runs.push(h.platform.evaluateAlerts());
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(runs);
    const res = await call<{ alerts: AlertJson[] }>(h.baseUrl, 'GET', '/v1/alerts', { key: ADMIN_KEY });
    expect(res.status).toBe(200);
    const mine = res.body.alerts.filter((a) => a.tenant === T);
    expect(mine.length).toBeLessThanOrEqual(1);
    const used = await call<{ quotas: Array<{ used: number }> }>(h.baseUrl, 'GET', `/v1/tenants/${T}/quotas`, { key: ADMIN_KEY });
    if (used.body.quotas[0]!.used === 4) expect(mine.map((a) => `${a.labels.threshold}:${a.state}`)).toEqual(['0.8:firing']);
  });
});
