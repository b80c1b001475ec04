import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IDLE_POLICIES } from '../pricing/price-book.ts';
import { attributeCosts, attributeCostsByHour } from './attribute-costs.ts';
import type { AttributionInput, AttributionResult } from './types.ts';
import { attributionArbitraries } from '../../test/support/attribution-arbitraries.ts';

/**
 * Invariants of the engine over random inputs: several instances over 48 hours, duplicate and
 * zero rows, usage above capacity, 1-3 price versions (some before the data, some inside it),
 * every policy, `now` anywhere. Sizes stay small so 200 runs take well under a second each.
 */

const HOUR = 3_600_000;
const HOURS = 48;
const H0 = Date.UTC(2025, 0, 1);
const RUNS = { numRuns: 200 };

const { capacityRow, usageRow, priceVersion } = attributionArbitraries(H0, HOURS);

const inputs: fc.Arbitrary<{ input: AttributionInput; split: number }> = fc
  .record({
    capacity: fc.array(capacityRow, { maxLength: 40 }),
    usage: fc.array(usageRow, { maxLength: 60 }),
    prices: fc.uniqueArray(priceVersion, { minLength: 1, maxLength: 3, selector: (p) => p.effective_from }),
    idlePolicy: fc.constantFrom(...IDLE_POLICIES),
    now: fc.integer({ min: H0 - 5 * HOUR, max: H0 + (HOURS + 5) * HOUR }),
    bounds: fc.array(fc.integer({ min: 0, max: HOURS }), { minLength: 3, maxLength: 3 }),
  })
  .map(({ bounds, prices, ...rest }) => {
    const [from, split, to] = [...bounds].sort((a, b) => a - b).map((i) => H0 + i * HOUR) as [number, number, number];
    const sorted = [...prices].sort((a, b) => a.effective_from - b.effective_from);
    return { input: { ...rest, prices: sorted, from, to }, split };
  });

type TenantFields = { usageCost: bigint; idleShare: bigint; overheadShare: bigint; totalCost: bigint };

function tenantFields(results: AttributionResult[]): Map<string, TenantFields> {
  const out = new Map<string, TenantFields>();
  for (const r of results) {
    for (const t of r.tenants) {
      const f = out.get(t.tenantId) ?? { usageCost: 0n, idleShare: 0n, overheadShare: 0n, totalCost: 0n };
      f.usageCost += t.usageCost;
      f.idleShare += t.idleShare;
      f.overheadShare += t.overheadShare;
      f.totalCost += t.totalCost;
      out.set(t.tenantId, f);
    }
  }
  return out;
}

const totals = (results: AttributionResult[]) =>
  results.reduce(
    (s, r) => ({
      capacityCost: s.capacityCost + r.capacityCost,
      overheadCost: s.overheadCost + r.overheadCost,
      idleCost: s.idleCost + r.idleCost,
      unallocatedIdle: s.unallocatedIdle + r.unallocatedIdle,
    }),
    { capacityCost: 0n, overheadCost: 0n, idleCost: 0n, unallocatedIdle: 0n },
  );

describe('attributeCosts: properties', () => {
  it('(a) conserves exactly: capacity + overhead = Σ tenant total + unallocated', () => {
    fc.assert(
      fc.property(inputs, ({ input }) => {
        const r = attributeCosts(input);
        const charged = r.tenants.reduce((s, t) => s + t.totalCost, 0n) + r.unallocatedIdle;
        expect(r.conservation).toEqual({ holds: true, difference: 0n });
        expect(charged).toBe(r.capacityCost + r.overheadCost);
      }),
      RUNS,
    );
  });

  it('(b) never produces a negative amount', () => {
    fc.assert(
      fc.property(inputs, ({ input }) => {
        const r = attributeCosts(input);
        expect(r.unallocatedIdle >= 0n && r.idleCost >= 0n && Object.values(r.idleByResource).every((v) => v >= 0n)).toBe(true);
        for (const t of r.tenants) {
          expect([t.usageCost, t.idleShare, t.overheadShare, t.totalCost].every((v) => v >= 0n)).toBe(true);
          expect(t.totalCost).toBe(t.usageCost + t.idleShare + t.overheadShare);
        }
      }),
      RUNS,
    );
  });

  it('(c) is additive: splitting the range at an hour boundary sums to the whole', () => {
    fc.assert(
      fc.property(inputs, ({ input, split }) => {
        const whole = attributeCosts(input);
        const parts = [attributeCosts({ ...input, to: split }), attributeCosts({ ...input, from: split })];
        expect(totals(parts)).toEqual(totals([whole]));
        const wholeTenants = tenantFields([whole]);
        const partTenants = tenantFields(parts);
        expect([...partTenants.keys()].sort()).toEqual([...wholeTenants.keys()].sort());
        for (const [id, f] of wholeTenants) expect(partTenants.get(id)).toEqual(f);
      }),
      RUNS,
    );
  });

  it('(d) splits each tenant usage exactly by model variant and by instance', () => {
    fc.assert(
      fc.property(inputs, ({ input }) => {
        for (const t of attributeCosts(input).tenants) {
          expect(t.byModel.reduce((s, m) => s + m.usageCost, 0n)).toBe(t.usageCost);
          expect(t.byInstance.reduce((s, m) => s + m.usageCost, 0n)).toBe(t.usageCost);
          expect(t.usageByResource.cpu + t.usageByResource.memory + t.usageByResource.gpu).toBe(t.usageCost);
        }
      }),
      RUNS,
    );
  });

  it('(e) Σ tenant usage + idle = capacity, per resource too', () => {
    fc.assert(
      fc.property(inputs, ({ input }) => {
        const r = attributeCosts(input);
        expect(r.tenants.reduce((s, t) => s + t.usageCost, 0n) + r.idleCost).toBe(r.capacityCost);
        for (const k of ['cpu', 'memory', 'gpu'] as const) {
          expect(r.tenants.reduce((s, t) => s + t.usageByResource[k], 0n) + r.idleByResource[k]).toBe(r.capacityByResource[k]);
        }
      }),
      RUNS,
    );
  });

  it('(f) does not depend on the order of its input rows', () => {
    fc.assert(
      fc.property(inputs, ({ input }) => {
        const reversed = { ...input, capacity: [...input.capacity].reverse(), usage: [...input.usage].reverse() };
        expect(attributeCosts(reversed)).toEqual(attributeCosts(input));
      }),
      RUNS,
    );
  });

  it('(g) hourly figures: each hour is the one-hour range, and they sum to the tenant totals', () => {
    fc.assert(
      fc.property(inputs, ({ input, split }) => {
        const { result, tenantHours } = attributeCostsByHour(input);
        expect(result).toEqual(attributeCosts(input));
        for (const t of result.tenants) {
          const row = tenantHours.byTenant.get(t.tenantId)!;
          const sum = (k: number) => row.filter((_, i) => i % 3 === k).reduce((a, b) => a + b, 0n);
          expect([sum(0), sum(1), sum(2)]).toEqual([t.usageCost, t.idleShare, t.overheadShare]);
        }
        // The hour at `split` priced on its own gives the same figures for every tenant.
        if (split >= input.to) return;
        const alone = attributeCosts({ ...input, from: split, to: split + HOUR });
        const i = ((split - input.from) / HOUR) * 3;
        for (const [tenantId, row] of tenantHours.byTenant) {
          const t = alone.tenants.find((x) => x.tenantId === tenantId);
          expect([row[i], row[i + 1], row[i + 2]]).toEqual([t?.usageCost ?? 0n, t?.idleShare ?? 0n, t?.overheadShare ?? 0n]);
        }
      }),
      RUNS,
    );
  });
});
