import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../../test/support/store.ts';
import type { Store } from '../../store/client.ts';
import { evaluateQuotaAlerts } from '../quota-rules.ts';
import type { QuotaStatus } from '../../quotas/types.ts';
import type { Alert, AlertRepository } from '../types.ts';
import { listAlertsQuery } from './alert-queries.ts';
import { createAlertStore } from './alert-store.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 2, 10, 12, 0, 0);
const WINDOW = Date.UTC(2025, 2, 10);
const OPTS = { thresholds: [0.8, 1], hysteresis: 0.05 };

const status = (tenantId: string, ratio: number, windowStart = WINDOW): QuotaStatus => ({
  tenantId,
  kind: 'tokens_per_day',
  limit: 1000,
  used: ratio * 1000,
  ratio,
  windowStart,
  resetAt: windowStart + 24 * HOUR,
});

describe('listAlertsQuery (text)', () => {
  it.each([
    [{ from: 1, to: 2, limit: 10 }, ['from', 'limit', 'to'], false, false],
    [{ tenantId: 't', from: 1, to: 2, limit: 10 }, ['from', 'limit', 'tenant', 'to'], true, false],
    [{ tenantId: 't', state: 'firing' as const, from: 1, to: 2, limit: 10 }, ['from', 'limit', 'state', 'tenant', 'to'], true, true],
  ])('%o binds every value', (filter, params, byTenant, byState) => {
    const q = listAlertsQuery(filter);
    expect(Object.keys(q.params).sort()).toEqual(params);
    expect(q.query.includes('tenant_id = {tenant:String}')).toBe(byTenant);
    expect(q.query.includes('state = {state:String}')).toBe(byState);
    expect(q.query).toContain('FROM alerts FINAL');
    expect(q.query).not.toMatch(/'t'|firing/);
  });
});

describe('AlertStore (chdb)', () => {
  let store: Store;
  let repo: AlertRepository;
  beforeAll(async () => {
    ({ store } = await openTestStore());
    repo = createAlertStore(store);
  });
  afterAll(() => store.close());

  /** One evaluation round against the store, as the service does it. */
  async function round(statuses: QuotaStatus[], now: number): Promise<Alert[]> {
    const prev = await repo.loadActive({ resolvedSince: now - HOUR });
    const r = evaluateQuotaAlerts(prev, statuses, { ...OPTS, now });
    await repo.save(r.alerts.filter((a) => a.updatedAt === now), r.transitions);
    return r.alerts;
  }

  it('round-trips an episode exactly', async () => {
    const [alert] = await round([status('st-a', 0.85)], T0);
    const loaded = await repo.loadActive({ resolvedSince: T0 });
    expect(loaded.filter((a) => a.tenantId === 'st-a')).toEqual([alert]);
  });

  it('the latest version of an episode wins, before any merge (FINAL)', async () => {
    await round([status('st-b', 0.85)], T0);
    await round([status('st-b', 0.9)], T0 + 1000);
    await round([status('st-b', 0.5)], T0 + 2000);
    const all = await repo.list({ tenantId: 'st-b', from: T0 - HOUR, to: T0 + HOUR, limit: 100 });
    expect(all.map((a) => [a.state, a.value, a.endsAt])).toEqual([['resolved', 0.9, T0 + 2000]]);
    // A resolved episode is not active, however many older firing versions exist.
    const active = await repo.loadActive({ resolvedSince: T0 + 3000 });
    expect(active.filter((a) => a.tenantId === 'st-b')).toEqual([]);
  });

  it('saving the same evaluation twice reads back once (episodes and transitions)', async () => {
    const prev = await repo.loadActive({ resolvedSince: T0 });
    const r = evaluateQuotaAlerts(prev, [status('st-c', 1)], { ...OPTS, now: T0 });
    await repo.save(r.alerts, r.transitions);
    await repo.save(r.alerts, r.transitions);
    const listed = await repo.list({ tenantId: 'st-c', from: T0 - HOUR, to: T0 + HOUR, limit: 100 });
    expect(listed).toHaveLength(2);
    const events = await store.query<{ n: string }>({
      query: 'SELECT count() AS n FROM alert_events FINAL WHERE tenant_id = {t:String}',
      params: { t: 'st-c' },
    });
    expect(Number(events[0]!.n)).toBe(2);
  });

  it('a new crossing after a resolve is a second episode of the same key', async () => {
    await round([status('st-d', 0.85)], T0);
    await round([status('st-d', 0.1)], T0 + 1000);
    await round([status('st-d', 0.85)], T0 + 2000);
    const listed = await repo.list({ tenantId: 'st-d', from: T0 - HOUR, to: T0 + HOUR, limit: 100 });
    expect(listed.map((a) => [a.state, a.startsAt])).toEqual([
      ['firing', T0 + 2000],
      ['resolved', T0],
    ]);
    expect(new Set(listed.map((a) => a.key)).size).toBe(1);
  });

  it('list filters by tenant, state and overlap with [from, to)', async () => {
    await round([status('st-e', 1)], T0 - 5 * HOUR);
    const range = { from: T0 - HOUR, to: T0 + HOUR, limit: 100 };
    // Started five hours before `from` and still firing: overlaps.
    expect(await repo.list({ ...range, tenantId: 'st-e' })).toHaveLength(2);
    expect(await repo.list({ ...range, tenantId: 'st-e', state: 'resolved' })).toEqual([]);
    expect(await repo.list({ from: T0 - 10 * HOUR, to: T0 - 6 * HOUR, limit: 100, tenantId: 'st-e' })).toEqual([]);
    const everyone = await repo.list({ ...range, state: 'firing' });
    expect(new Set(everyone.map((a) => a.tenantId))).toEqual(new Set(['st-a', 'st-c', 'st-d', 'st-e']));
    expect(await repo.list({ ...range, limit: 1 })).toHaveLength(1);
  });

  it('lists open episodes first, then the newest: an old firing alert is not pushed out by recent resolved ones', async () => {
    await round([status('st-f', 0.85)], T0 - 3 * HOUR); // still firing, started long ago
    for (let i = 0; i < 3; i++) {
      await round([status('st-g', 0.85)], T0 + i * 2000);
      await round([status('st-g', 0.1)], T0 + i * 2000 + 1000);
    }
    const range = { from: T0 - HOUR, to: T0 + HOUR };
    const both = (await repo.list({ ...range, limit: 100 })).filter((a) => a.tenantId === 'st-f' || a.tenantId === 'st-g');
    expect(both.map((a) => [a.tenantId, a.state, a.startsAt])).toEqual([
      ['st-f', 'firing', T0 - 3 * HOUR],
      ['st-g', 'resolved', T0 + 4000],
      ['st-g', 'resolved', T0 + 2000],
      ['st-g', 'resolved', T0],
    ]);
  });
});
