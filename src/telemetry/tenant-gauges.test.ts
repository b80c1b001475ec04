import { describe, expect, it } from 'vitest';
import { costSeries, countFiring, quotaRatioSeries } from './tenant-gauges.ts';
import { TenantLabeler } from './tenant-labeler.ts';

const q = (tenantId: string, kind: string, ratio: number) => ({ tenantId, kind, ratio });

describe('quotaRatioSeries', () => {
  it('keeps labelled tenants and reports the highest ratio of the folded ones per quota', () => {
    const labeler = new TenantLabeler(1);
    const series = quotaRatioSeries(
      [q('a', 'requests_per_minute', 0.9), q('b', 'requests_per_minute', 0.4), q('c', 'requests_per_minute', 0.7), q('c', 'spend_per_month', 1.2)],
      labeler,
    );
    // c has the highest ratio (1.2) and claims the one slot; a and b fold, "other" shows a's 0.9.
    expect(series).toEqual([
      { tenant: 'other', quota: 'requests_per_minute', ratio: 0.9 },
      { tenant: 'c', quota: 'requests_per_minute', ratio: 0.7 },
      { tenant: 'c', quota: 'spend_per_month', ratio: 1.2 },
    ]);
  });

  it('idle tenants (ratio 0) claim no slot; a labelled tenant keeps its series at 0', () => {
    const labeler = new TenantLabeler(5);
    labeler.label('busy');
    const series = quotaRatioSeries([q('idle', 'requests_per_minute', 0), q('busy', 'requests_per_minute', 0)], labeler);
    expect(labeler.keptTenants()).toEqual(['busy']);
    expect(series).toEqual([
      { tenant: 'other', quota: 'requests_per_minute', ratio: 0 },
      { tenant: 'busy', quota: 'requests_per_minute', ratio: 0 },
    ]);
  });

  it('drops non-finite ratios', () => {
    expect(quotaRatioSeries([q('a', 'tokens_per_day', Number.NaN)], new TenantLabeler(2))).toEqual([]);
  });
});

describe('costSeries', () => {
  it('sums folded tenants; the most expensive claim free slots first', () => {
    const labeler = new TenantLabeler(2);
    const costs = new Map([
      ['small', 1.5],
      ['big', 100],
      ['mid', 10],
      ['zero', 0],
    ]);
    expect(costSeries({ currency: 'USD', costs }, labeler).sort((x, y) => x.tenant.localeCompare(y.tenant))).toEqual([
      { tenant: 'big', cost: 100 },
      { tenant: 'mid', cost: 10 },
      { tenant: 'other', cost: 1.5 },
    ]);
  });
});

describe('countFiring with a shared labeler', () => {
  it('uses the slots traffic already took', () => {
    const labeler = new TenantLabeler(1);
    labeler.label('served-first');
    const series = countFiring(
      [
        { tenantId: 'loud', name: 'InferledgerQuotaThreshold', severity: 'warning' },
        { tenantId: 'served-first', name: 'InferledgerAnomaly', severity: 'warning' },
      ],
      labeler,
    );
    expect(series.map((s) => s.tenant)).toEqual(['other', 'served-first']);
  });
});
