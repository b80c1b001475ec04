import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import { pricingSchema } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { CARRY_SETTLE_MS, createQuotaAuthority, type ReadMonthlyUsage } from './authority.ts';
import { createCarriedUsageReader } from './carried-usage.ts';
import type { QuotaLimits } from './config.ts';
import type { MonthToDate } from './monthly.ts';
import type { QuotaAuthority } from './types.ts';
import { createMonthlyUsageReader } from './monthly-usage.ts';
import { LeaseGrantBody, leaseGrantFromJson, leaseGrantToJson } from './wire.ts';

/**
 * The in-memory quota authority: counter leases, releases, concurrency slots with reclaim,
 * unlimited kinds, and monthly blocks from month-to-date usage read out of a real embedded
 * ClickHouse (usage_hourly rows written directly, so every figure is known exactly).
 */

const NOW = Date.parse('2026-10-15T12:00:10Z');
const MINUTE_START = Date.parse('2026-10-15T12:00:00Z');
const MINUTE_END = Date.parse('2026-10-15T12:01:00Z');
const MONTH_START = Date.parse('2026-10-01T00:00:00Z');
const MONTH_END = Date.parse('2026-11-01T00:00:00Z');

function authorityWith(limits: Record<string, QuotaLimits>, read: ReadMonthlyUsage = async () => new Map()) {
  const clock = { now: NOW };
  const authority = createQuotaAuthority({ limitsOf: (t) => limits[t] ?? {}, now: () => clock.now, readMonthlyUsage: read, leaseTtlS: 5 });
  return { authority, clock };
}

describe('counter leases', () => {
  it('grants min(amount, limit - used), with the window, limit, remaining and a retry time when short', async () => {
    const { authority } = authorityWith({ a: { requests_per_minute: 30 } });
    const first = await authority.lease({ tenantId: 'a', kind: 'requests_per_minute', amount: 20, holder: 'h1' });
    expect(first).toEqual({ granted: 20, windowStart: MINUTE_START, windowEnd: MINUTE_END, limit: 30, remaining: 10 });
    const second = await authority.lease({ tenantId: 'a', kind: 'requests_per_minute', amount: 20, holder: 'h2' });
    expect(second).toEqual({ granted: 10, windowStart: MINUTE_START, windowEnd: MINUTE_END, limit: 30, remaining: 0, retryAfterMs: 50_000 });
  });

  it('release gives units back to the same window; a release for a past window is dropped', async () => {
    const { authority, clock } = authorityWith({ a: { requests_per_minute: 10 } });
    await authority.lease({ tenantId: 'a', kind: 'requests_per_minute', amount: 10, holder: 'h1' });
    await authority.release({ tenantId: 'a', kind: 'requests_per_minute', amount: 4, holder: 'h1', windowStart: MINUTE_START });
    expect((await authority.lease({ tenantId: 'a', kind: 'requests_per_minute', amount: 10, holder: 'h2' })).granted).toBe(4);

    clock.now = MINUTE_END + 1;
    await authority.release({ tenantId: 'a', kind: 'requests_per_minute', amount: 6, holder: 'h1', windowStart: MINUTE_START });
    const status = await authority.status('a');
    expect(status).toEqual([{ tenantId: 'a', kind: 'requests_per_minute', limit: 10, used: 0, ratio: 0, windowStart: MINUTE_END, resetAt: MINUTE_END + 60_000 }]);
  });

  it('an unlimited kind grants what is asked and says so', async () => {
    const { authority } = authorityWith({ a: { requests_per_minute: 1 } });
    expect(await authority.lease({ tenantId: 'a', kind: 'tokens_per_day', amount: 5000, holder: 'h' })).toEqual({
      granted: 5000,
      unlimited: true,
      windowStart: Date.parse('2026-10-15T00:00:00Z'),
      windowEnd: Date.parse('2026-10-16T00:00:00Z'),
    });
    expect(await authority.lease({ tenantId: 'nobody', kind: 'concurrent_requests', amount: 1, holder: 'h' })).toEqual({ granted: 1, unlimited: true });
  });

  it('refuses amounts that are not whole non-negative numbers', async () => {
    const { authority } = authorityWith({ a: { requests_per_minute: 10 } });
    await expect(authority.lease({ tenantId: 'a', kind: 'requests_per_minute', amount: -1, holder: 'h' })).rejects.toMatchObject({ kind: 'invalid' });
    await expect(authority.release({ tenantId: 'a', kind: 'requests_per_minute', amount: 1.5, holder: 'h' })).rejects.toMatchObject({ kind: 'invalid' });
  });
});

describe('concurrency slots', () => {
  it('acquires up to the limit, frees on release, and reclaims a silent holder after 3 x lease_ttl_s', async () => {
    const { authority, clock } = authorityWith({ a: { concurrent_requests: 2 } });
    const lease = (holder: string, amount = 1) => authority.lease({ tenantId: 'a', kind: 'concurrent_requests', amount, holder });
    expect(await lease('crashes', 2)).toEqual({ granted: 2, limit: 2, remaining: 0 });
    expect(await lease('other')).toEqual({ granted: 0, limit: 2, remaining: 0, retryAfterMs: 1000 });

    clock.now += 15_000; // exactly 3 ttls: not yet
    expect((await lease('other')).granted).toBe(0);
    clock.now += 1;
    expect((await lease('other')).granted).toBe(1);
    await authority.release({ tenantId: 'a', kind: 'concurrent_requests', amount: 1, holder: 'other' });
    expect((await authority.status('a'))[0]).toMatchObject({ kind: 'concurrent_requests', limit: 2, used: 0 });
    expect((await authority.status('a'))[0]!.resetAt).toBeUndefined();
  });
});

describe('status', () => {
  it('lists only configured quotas, in a fixed order, with windows', async () => {
    const { authority } = authorityWith({ a: { tokens_per_day: 1000, requests_per_minute: 10, concurrent_requests: 3 } });
    await authority.lease({ tenantId: 'a', kind: 'tokens_per_day', amount: 250, holder: 'h' });
    const status = await authority.status('a');
    expect(status.map((s) => [s.kind, s.limit, s.used, s.ratio])).toEqual([
      ['requests_per_minute', 10, 0, 0],
      ['concurrent_requests', 3, 0, 0],
      ['tokens_per_day', 1000, 250, 0.25],
    ]);
    expect(await authority.status('unconfigured')).toEqual([]);
  });
});

// One embedded ClickHouse per test file (chdb holds one data directory per process).
let store: Store;
beforeAll(async () => {
  ({ store } = await openTestStore());
});
afterAll(async () => {
  await store?.close();
});

describe('monthly blocks from ClickHouse', () => {
  const pricing = pricingSchema.parse({
    currency: 'USD',
    capacity: [{ effective_from: '2020-01-01T00:00:00Z', vcpu_hour: '0.04', memory_gib_hour: '0.005' }],
    plans: { flat: [{ effective_from: '2020-01-01T00:00:00Z', meters: { requests: { unit_price: '0.001' } } }] },
    default_plan: 'flat',
  });
  const LIMITS: Record<string, QuotaLimits> = {
    'cpu-heavy': { cpu_seconds_per_month: 3600, gpu_seconds_per_month: 10 },
    spender: { spend_per_month: '1.00' },
    frugal: { spend_per_month: '1.00', cpu_seconds_per_month: 3600 },
    idle: { spend_per_month: '5' },
  };

  beforeAll(async () => {
    const row = (tenant: string, hour: string, q: { requests?: number; cpuUs?: number; gpuUs?: number }, computedAt = '2026-10-15 11:00:00.000') => ({
      tenant_id: tenant, hour, model: 'm', model_variant: 'm', instance_id: 'i-1',
      requests: q.requests ?? 0, errors: 0, rejected: 0, cpu_us: q.cpuUs ?? 0, gpu_us: q.gpuUs ?? 0,
      input_tokens: 0, output_tokens: 0, input_elements: 0, output_elements: 0, duration_ns_sum: 0, computed_at: computedAt,
    });
    await store.insert('usage_hourly', [
      // 3000 s, then the same hour recomputed to 3000 s again: FINAL counts it once; + 600 s = 3600.
      row('cpu-heavy', '2026-10-02 10:00:00', { cpuUs: 3_000_000_000, gpuUs: 4_000_000 }, '2026-10-02 11:00:00.000'),
      row('cpu-heavy', '2026-10-02 10:00:00', { cpuUs: 3_000_000_000, gpuUs: 4_000_000 }, '2026-10-02 11:30:00.000'),
      row('cpu-heavy', '2026-10-15 11:00:00', { cpuUs: 600_000_000 }),
      // Last month does not count toward this one.
      row('cpu-heavy', '2026-09-30 23:00:00', { cpuUs: 9_000_000_000, gpuUs: 9_000_000_000 }),
      row('spender', '2026-10-03 00:00:00', { requests: 1000 }),
      row('frugal', '2026-10-03 00:00:00', { requests: 999, cpuUs: 1_000_000 }),
    ]);
  });

  function monthlyAuthority() {
    let failing = false;
    const reader = createMonthlyUsageReader({
      store,
      statements: { store, pricing, planOf: () => 'flat', closeGraceHours: 2, now: () => NOW },
      knownTenants: () => Object.keys(LIMITS),
    });
    const read: ReadMonthlyUsage = async (month, wantsSpend) => {
      if (failing) throw new Error('ClickHouse is down');
      return reader(month, wantsSpend);
    };
    const { authority, clock } = authorityWith(LIMITS, read);
    return { authority, clock, fail: (on: boolean) => (failing = on) };
  }

  it('reads month-to-date CPU/GPU seconds (FINAL, this month only) and spend from the open statement', async () => {
    const reader = createMonthlyUsageReader({
      store,
      statements: { store, pricing, planOf: () => 'flat', closeGraceHours: 2, now: () => NOW },
      knownTenants: () => Object.keys(LIMITS),
    });
    const usage: Map<string, MonthToDate> = await reader({ start: MONTH_START, end: MONTH_END }, (t) => LIMITS[t]?.spend_per_month !== undefined);
    expect(usage.get('cpu-heavy')).toEqual({ cpuUs: 3_600_000_000n, gpuUs: 4_000_000n });
    expect(usage.get('spender')).toEqual({ cpuUs: 0n, gpuUs: 0n, spend: 1_000_000n });
    expect(usage.get('frugal')).toEqual({ cpuUs: 1_000_000n, gpuUs: 0n, spend: 999_000n });
    expect(usage.get('idle')).toEqual({ cpuUs: 0n, gpuUs: 0n, spend: 0n });
  });

  it('blocks a tenant whose usage reached a monthly limit (used >= limit), until the month ends', async () => {
    const { authority } = monthlyAuthority();
    expect(await authority.monthlyBlocks('cpu-heavy')).toEqual([]); // never refreshed: unknown, not blocked
    await authority.refresh();
    expect(await authority.monthlyBlocks('cpu-heavy')).toEqual([{ kind: 'cpu_seconds_per_month', resetAt: MONTH_END, limit: 3600, used: 3600 }]);
    expect(await authority.monthlyBlocks('spender')).toEqual([{ kind: 'spend_per_month', resetAt: MONTH_END, limit: '1.000000', used: '1.000000' }]);
    expect(await authority.monthlyBlocks('frugal')).toEqual([]);
    expect(await authority.monthlyBlocks('idle')).toEqual([]);
  });

  it('reports monthly usage with its age; a failed refresh keeps the last values and marks them stale', async () => {
    const { authority, clock, fail } = monthlyAuthority();
    const before = await authority.status('frugal');
    expect(before.map((s) => [s.kind, s.used, s.stale, s.asOf])).toEqual([
      ['cpu_seconds_per_month', 0, true, undefined],
      ['spend_per_month', '0.000000', true, undefined],
    ]);

    await authority.refresh();
    const fresh = await authority.status('frugal');
    expect(fresh).toEqual([
      { tenantId: 'frugal', kind: 'cpu_seconds_per_month', limit: 3600, used: 1, ratio: 1 / 3600, windowStart: MONTH_START, resetAt: MONTH_END, stale: false, asOf: NOW },
      { tenantId: 'frugal', kind: 'spend_per_month', limit: '1.000000', used: '0.999000', ratio: 0.999, windowStart: MONTH_START, resetAt: MONTH_END, stale: false, asOf: NOW },
    ]);

    fail(true);
    clock.now += 15_000;
    await expect(authority.refresh()).rejects.toThrow('ClickHouse is down');
    const stale = await authority.status('frugal');
    expect(stale.map((s) => [s.used, s.stale, s.asOf])).toEqual([
      [1, true, NOW],
      ['0.999000', true, NOW],
    ]);
    expect(await authority.monthlyBlocks('spender')).toHaveLength(1); // still blocked on the last known spend

    fail(false);
    await authority.refresh();
    expect((await authority.status('frugal')).every((s) => s.stale === false && s.asOf === clock.now)).toBe(true);
  });

  it('usage of a past month neither blocks nor shows in a new month', async () => {
    const { authority, clock } = monthlyAuthority();
    await authority.refresh();
    clock.now = MONTH_END + 1000;
    expect(await authority.monthlyBlocks('cpu-heavy')).toEqual([]);
    expect((await authority.status('cpu-heavy'))[0]).toMatchObject({ stale: true, asOf: undefined, windowStart: MONTH_END });
  });
});

describe('a restarted authority carries over the minute and day in progress (requests in ClickHouse)', () => {
  const STARTED = NOW; // 12:00:10, the new authority's start
  const LIMITS: Record<string, QuotaLimits> = {
    restarted: { tokens_per_day: 1000, requests_per_minute: 5 },
    tokens_only: { tokens_per_day: 100 },
    quiet: { tokens_per_day: 100, requests_per_minute: 5 },
  };

  beforeAll(async () => {
    const req = (tenant: string, ts: string, tokens: number, status = 'ok', spanId = `${tenant}-${ts}-${tokens}-${status}`) => ({
      tenant_id: tenant, ts, trace_id: 't', span_id: spanId, model: 'm', model_variant: 'm', status, input_tokens: tokens,
    });
    await store.insert('requests', [
      req('restarted', '2026-10-15 03:00:00.000', 300), // today, before the start
      req('restarted', '2026-10-15 11:59:59.000', 200, 'error'), // failed runs were admitted: they count
      req('restarted', '2026-10-15 12:00:01.000', 100),
      req('restarted', '2026-10-15 12:00:01.000', 100), // the same span delivered twice: counted once
      req('restarted', '2026-10-15 12:00:02.000', 500, 'rejected'), // refused: spent nothing
      req('restarted', '2026-10-14 23:59:59.000', 900), // yesterday
      req('restarted', '2026-10-15 12:00:30.000', 50), // after the start: leased from the new authority
      req('tokens_only', '2026-10-15 12:00:05.000', 40),
    ]);
  });

  function restarted(read = createCarriedUsageReader(store)) {
    const clock = { now: STARTED };
    const authority = createQuotaAuthority({
      limitsOf: (t) => LIMITS[t] ?? {}, now: () => clock.now, readMonthlyUsage: async () => new Map(), readCarriedUsage: read, leaseTtlS: 5,
    });
    return { authority, clock };
  }
  const usedOf = async (a: QuotaAuthority, tenant: string) => Object.fromEntries((await a.status(tenant)).map((s) => [s.kind, s.used]));

  it('reads what was admitted before the start: FINAL, rejected excluded, this day and minute only', async () => {
    const usage = await createCarriedUsageReader(store)({ start: Date.parse('2026-10-15T00:00:00Z'), end: Date.parse('2026-10-16T00:00:00Z') }, { start: MINUTE_START, end: MINUTE_END }, STARTED);
    expect(usage).toEqual(new Map([
      ['restarted', { tokensToday: 600, requestsThisMinute: 1 }],
      ['tokens_only', { tokensToday: 40, requestsThisMinute: 1 }],
    ]));
  });

  it('counts it on top of new leases, so the day is not handed out twice', async () => {
    const { authority } = restarted();
    expect(await usedOf(authority, 'restarted')).toEqual({ requests_per_minute: 0, tokens_per_day: 0 });
    await authority.refresh();
    expect(await usedOf(authority, 'restarted')).toEqual({ requests_per_minute: 1, tokens_per_day: 600 });
    expect(await usedOf(authority, 'tokens_only')).toEqual({ tokens_per_day: 40 });
    expect(await usedOf(authority, 'quiet')).toEqual({ requests_per_minute: 0, tokens_per_day: 0 });
    const grant = await authority.lease({ tenantId: 'restarted', kind: 'tokens_per_day', amount: 500, holder: 's1' });
    expect(grant).toMatchObject({ granted: 400, remaining: 0, limit: 1000 });
    // Re-reading does not count the new authority's own admissions a second time (the 12:00:30 row).
    await authority.refresh();
    expect(await usedOf(authority, 'restarted')).toMatchObject({ tokens_per_day: 1000 });
  });

  // Found by dogfooding: after a fail-open outage the read-back usage exceeded the limit, the lease
  // answer said remaining -4, and sidecars refused that answer and fell into fail mode.
  it('answers remaining 0, never less, when the usage read back is over the limit; the wire takes an old negative one as 0', async () => {
    const { authority } = restarted(async () => new Map([['restarted', { tokensToday: 1500, requestsThisMinute: 9 }]]));
    await authority.refresh();
    const minute = await authority.lease({ tenantId: 'restarted', kind: 'requests_per_minute', amount: 1, holder: 's1' });
    expect(minute).toMatchObject({ granted: 0, limit: 5, remaining: 0 });
    expect(minute.retryAfterMs).toBeGreaterThan(0);
    const wire = LeaseGrantBody.parse(leaseGrantToJson({ ...minute, remaining: -4 }));
    expect(leaseGrantFromJson(wire).remaining).toBe(0);
  });

  it('stops carrying over when the minute and the day end', async () => {
    const { authority, clock } = restarted();
    await authority.refresh();
    clock.now = MINUTE_END;
    await authority.refresh();
    expect(await usedOf(authority, 'restarted')).toEqual({ requests_per_minute: 0, tokens_per_day: 600 });
    clock.now = Date.parse('2026-10-16T00:00:01Z');
    await authority.refresh();
    expect(await usedOf(authority, 'restarted')).toEqual({ requests_per_minute: 0, tokens_per_day: 0 });
  });

  it('stops reading once a read ten minutes after the start has succeeded', async () => {
    let reads = 0;
    const reader = createCarriedUsageReader(store);
    const { authority, clock } = restarted(async (...args) => {
      reads++;
      return reader(...args);
    });
    await authority.refresh();
    clock.now = STARTED + CARRY_SETTLE_MS - 1;
    await authority.refresh();
    expect(reads).toBe(2);
    clock.now = STARTED + CARRY_SETTLE_MS;
    await authority.refresh();
    await authority.refresh();
    expect(reads).toBe(3);
    expect(await usedOf(authority, 'restarted')).toMatchObject({ tokens_per_day: 600 });
  });

  it('a failed read is reported and keeps what was carried', async () => {
    let failing = false;
    const reader = createCarriedUsageReader(store);
    const { authority } = restarted(async (...args) => {
      if (failing) throw new Error('ClickHouse is down');
      return reader(...args);
    });
    await authority.refresh();
    failing = true;
    await expect(authority.refresh()).rejects.toThrow('ClickHouse is down');
    expect(await usedOf(authority, 'restarted')).toMatchObject({ tokens_per_day: 600 });
  });
});
