import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apportion, formatMoney, type Micros } from '../money/money.ts';
import { listRevenue } from '../pricing/list-revenue.ts';
import { IDLE_POLICIES, pricingSchema } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { microsToSeconds } from '../usage/units.ts';
import { attributeCosts } from './attribute-costs.ts';
import { attributionReport, tenantCostReport } from './cost-reports.ts';
import { attributionDataOf, rangeAttributionOf, runAttribution, SPAN_MS, spansOf, type CostContext } from './cost-service.ts';
import { mergeAttributionResults } from './merge-results.ts';
import type { AttributionResult, CapacityHour } from './types.ts';
import { requestsByTenant, usageRecordsOf, usageTableBuilder, type UsageRecord } from './usage-table.ts';
import { attributionArbitraries } from '../../test/support/attribution-arbitraries.ts';

/**
 * The chunked path (usage in day columns, the engine per day, results merged, revenue summed row
 * by row) against the single pass it replaced, kept here verbatim as the reference: one engine
 * run over every row, list revenue over each tenant × model's rows at once. Random data over
 * 3½ days starting mid-day (so day chunks and series buckets cut across it), random capacity
 * price versions, two plans with a price change inside the range, every idle policy.
 * The reports must be identical: every field, every micro, same order (compared as JSON too).
 */

const H = 3_600_000;
const HOURS = 84;
const T0 = Date.UTC(2026, 9, 1, 13);
const { capacityRow, usageRow, priceVersion } = attributionArbitraries(T0, HOURS);

const book = pricingSchema.parse({
  capacity: [{ effective_from: '2026-01-01T00:00:00Z', vcpu_hour: '0.04', memory_gib_hour: '0.005', overhead_hour: '0.02' }],
  plans: {
    standard: [
      { effective_from: '2026-01-01T00:00:00Z', meters: { requests: { unit_price: '0.0001234567' }, cpu_seconds: { unit_price: '0.000271' } } },
      { effective_from: '2026-10-02T07:00:00Z', meters: { requests: { unit_price: '0.0002' }, input_tokens: { tiers: [{ up_to: 1000, unit_price: '0.0033333' }, { unit_price: '0.001' }] } } },
    ],
    gold: [{ effective_from: '2026-01-01T00:00:00Z', meters: { output_tokens: { unit_price: '0.0150001' }, gpu_seconds: { unit_price: '0.0009' } } }],
  },
});

const cases = fc.record({
  capacity: fc.array(capacityRow, { maxLength: 60 }),
  usage: fc.array(usageRow, { maxLength: 120 }),
  prices: fc.uniqueArray(priceVersion, { minLength: 1, maxLength: 3, selector: (p) => p.effective_from }),
  idlePolicy: fc.constantFrom(...IDLE_POLICIES),
  now: fc.integer({ min: T0 - 5 * H, max: T0 + (HOURS + 5) * H }),
  hours: fc.integer({ min: 0, max: HOURS }),
  stepHours: fc.constantFrom(1, 5, 24, 30, 200),
});

type Case = typeof cases extends fc.Arbitrary<infer C> ? C : never;

function contextOf(c: Case): CostContext {
  const pricing = { ...book, idle_policy: c.idlePolicy, capacity: [...c.prices].sort((a, b) => a.effective_from - b.effective_from) };
  return { store: {} as Store, pricing, planOf: (t) => (t.startsWith('gold') ? 'gold' : 'standard'), now: () => c.now };
}

// ---- the single-pass reference: the code this change replaced, unchanged in substance ----

function referenceResult(ctx: CostContext, range: { from: number; to: number }, capacity: CapacityHour[], usage: UsageRecord[]): AttributionResult {
  return attributeCosts({ from: range.from, to: range.to, now: ctx.now(), capacity, usage, prices: ctx.pricing.capacity, idlePolicy: ctx.pricing.idle_policy });
}

function referenceMarginByModel(ctx: CostContext, result: AttributionResult, usageRows: readonly UsageRecord[]) {
  const rowsByKey = new Map<string, UsageRecord[]>();
  for (const r of usageRows) {
    if (r.hour < result.from || r.hour >= result.to) continue;
    const key = `${r.tenantId}\u0000${r.model}`;
    rowsByKey.set(key, [...(rowsByKey.get(key) ?? []), r]);
  }
  const out: Array<{ tenantId: string; model: string; revenue: Micros; cost: Micros }> = [];
  for (const t of result.tenants) {
    const plan = ctx.pricing.plans[ctx.planOf(t.tenantId)] ?? [];
    const models = [...new Set(t.byModel.map((m) => m.model))].sort();
    const ofModel = (model: string) => t.byModel.filter((m) => m.model === model);
    const usageCost = models.map((model) => ofModel(model).reduce((a, m) => a + m.usageCost, 0n));
    const usageValue = models.map((model) => ofModel(model).reduce((a, m) => a + m.usageValue, 0n));
    const pool = t.idleShare + t.overheadShare;
    const shares = apportion(pool, usageValue) ?? apportion(pool, models.map(() => 1n)) ?? [];
    models.forEach((model, i) => {
      out.push({ tenantId: t.tenantId, model, revenue: listRevenue(plan, rowsByKey.get(`${t.tenantId}\u0000${model}`) ?? []), cost: usageCost[i]! + (shares[i] ?? 0n) });
    });
  }
  return out;
}

const money = formatMoney;
const resources = (r: { cpu: Micros; memory: Micros; gpu: Micros }) => ({ cpu: money(r.cpu), memory: money(r.memory), gpu: money(r.gpu) });
const iso = (ms: number) => new Date(ms).toISOString();

function referenceAttributionReport(ctx: CostContext, range: { from: number; to: number }, capacity: CapacityHour[], usage: UsageRecord[]) {
  const result = referenceResult(ctx, range, capacity, usage);
  const models = referenceMarginByModel(ctx, result, usage);
  const revenueOf = (tenantId: string) => models.filter((m) => m.tenantId === tenantId).reduce((a, m) => a + m.revenue, 0n);
  const byPlan = new Map<string, { revenue: Micros; cost: Micros }>();
  for (const t of result.tenants) {
    const acc = byPlan.get(ctx.planOf(t.tenantId)) ?? { revenue: 0n, cost: 0n };
    acc.revenue += revenueOf(t.tenantId);
    acc.cost += t.totalCost;
    byPlan.set(ctx.planOf(t.tenantId), acc);
  }
  const marginOf = (revenue: Micros, cost: Micros) => ({ revenue: money(revenue), cost: money(cost), margin: money(revenue - cost) });
  return {
    from: iso(result.from),
    to: iso(result.to),
    currency: ctx.pricing.currency,
    idle_policy: result.idlePolicy,
    capacity_cost: money(result.capacityCost),
    overhead_cost: money(result.overheadCost),
    idle_cost: money(result.idleCost),
    unallocated_idle: money(result.unallocatedIdle),
    capacity_by_resource: resources(result.capacityByResource),
    idle_by_resource: resources(result.idleByResource),
    tenants: result.tenants.map((t) => ({
      tenant: t.tenantId,
      plan: ctx.planOf(t.tenantId),
      usage_cost: money(t.usageCost),
      usage_by_resource: resources(t.usageByResource),
      idle_share: money(t.idleShare),
      overhead_share: money(t.overheadShare),
      total_cost: money(t.totalCost),
      revenue: money(revenueOf(t.tenantId)),
      margin: money(revenueOf(t.tenantId) - t.totalCost),
    })),
    margin: {
      by_model: models.map((m) => ({ tenant: m.tenantId, model: m.model, ...marginOf(m.revenue, m.cost) })),
      by_plan: [...byPlan.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([plan, v]) => ({ plan, ...marginOf(v.revenue, v.cost) })),
    },
    unpriced_usage: {
      cpu_seconds: microsToSeconds(result.unpricedUsage.cpuUs),
      gpu_seconds: microsToSeconds(result.unpricedUsage.gpuUs),
      hours: result.unpricedUsage.hours,
    },
    conservation: {
      holds: result.conservation.holds,
      difference: money(result.conservation.difference),
      rule: 'sum(tenants.total_cost) + unallocated_idle = capacity_cost + overhead_cost',
    },
  };
}

function referenceTenantCostReport(ctx: CostContext, range: { from: number; to: number }, capacity: CapacityHour[], usage: UsageRecord[], tenantId: string, stepSeconds: number) {
  const stepMs = Math.max(1, Math.round(stepSeconds / 3600)) * H;
  const whole = referenceResult(ctx, range, capacity, usage);
  const t = whole.tenants.find((x) => x.tenantId === tenantId);
  const models = referenceMarginByModel(ctx, whole, usage).filter((m) => m.tenantId === tenantId);
  const series = [];
  for (let from = range.from; from < range.to; from += stepMs) {
    const to = Math.min(from + stepMs, range.to);
    const inside = (h: number) => h >= from && h < to;
    const bt = referenceResult(ctx, { from, to }, capacity.filter((c) => inside(c.hour)), usage.filter((u) => inside(u.hour))).tenants.find((x) => x.tenantId === tenantId);
    series.push({ t: iso(from), total: money(bt?.totalCost ?? 0n), usage_cost: money(bt?.usageCost ?? 0n), idle_share: money(bt?.idleShare ?? 0n), overhead_share: money(bt?.overheadShare ?? 0n) });
  }
  return {
    tenant: tenantId,
    from: iso(whole.from),
    to: iso(whole.to),
    step_seconds: stepMs / 1000,
    currency: ctx.pricing.currency,
    idle_policy: whole.idlePolicy,
    total: money(t?.totalCost ?? 0n),
    usage_cost: money(t?.usageCost ?? 0n),
    by_resource: { ...resources(t?.usageByResource ?? { cpu: 0n, memory: 0n, gpu: 0n }), idle_share: money(t?.idleShare ?? 0n), overhead_share: money(t?.overheadShare ?? 0n) },
    by_model: models.map((m) => ({ model: m.model, cost: money(m.cost) })),
    series,
  };
}

// ---- the checks ----

const bigintJson = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));

describe('chunked attribution equals the single pass', () => {
  it('attributionReport, tenantCostReport and the engine result are identical', () => {
    fc.assert(
      fc.property(cases, (c) => {
        const ctx = contextOf(c);
        const range = { from: T0, to: T0 + c.hours * H };
        const inRange = (h: number) => h >= range.from && h < range.to;
        const capacity = c.capacity.filter((r) => inRange(r.hour));
        const usage = c.usage.filter((r) => inRange(r.hour));
        const data = attributionDataOf(range, capacity, usage);

        const { result } = runAttribution(ctx, data);
        const reference = referenceResult(ctx, range, capacity, usage);
        expect(result).toStrictEqual(reference);
        expect(bigintJson(result)).toBe(bigintJson(reference));

        const report = attributionReport(ctx, rangeAttributionOf(ctx, data));
        const expected = referenceAttributionReport(ctx, range, capacity, usage);
        expect(report).toStrictEqual(expected);
        expect(JSON.stringify(report)).toBe(JSON.stringify(expected));

        for (const tenant of ['a', 'gold-1', 'nobody']) {
          const costs = tenantCostReport(ctx, rangeAttributionOf(ctx, data), tenant, c.stepHours * 3600);
          const expectedCosts = referenceTenantCostReport(ctx, range, capacity, usage, tenant, c.stepHours * 3600);
          expect(JSON.stringify(costs)).toBe(JSON.stringify(expectedCosts));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('usageRecordsOf gives back every row of the table', () => {
    fc.assert(
      fc.property(fc.array(usageRow, { maxLength: 80 }), (usage) => {
        const data = attributionDataOf({ from: T0, to: T0 + HOURS * H }, [], usage);
        const key = (u: UsageRecord) => bigintJson([u.hour, u.tenantId, u.instanceId, u.model, u.modelVariant, u.requests, u.inputTokens, u.outputTokens, u.cpuUs, u.gpuUs]);
        expect(usageRecordsOf(data.table, T0, T0 + HOURS * H).map(key).sort()).toEqual(usage.map(key).sort());
      }),
    );
  });

  it('a table that keeps its rows gives back the same rows as its columns, for any hours, in hour order', () => {
    fc.assert(
      fc.property(fc.array(usageRow, { maxLength: 80 }), fc.integer({ min: 0, max: HOURS }), fc.integer({ min: 0, max: HOURS }), (usage, a, b) => {
        const [from, to] = [T0 + Math.min(a, b) * H, T0 + Math.max(a, b) * H];
        const build = (keepRows: boolean) => {
          const builder = usageTableBuilder({ keepRows });
          for (const span of spansOf({ from: T0, to: T0 + HOURS * H }, SPAN_MS)) builder.add(span.from, span.to, usage.filter((u) => u.hour >= span.from && u.hour < span.to));
          return builder.table();
        };
        const kept = build(true);
        expect(kept.chunks.every((c) => c.rows !== undefined)).toBe(true);
        expect(build(false).chunks.every((c) => c.rows === undefined)).toBe(true);
        const key = (u: UsageRecord) => bigintJson([u.hour, u.tenantId, u.instanceId, u.model, u.modelVariant, u.requests, u.inputTokens, u.outputTokens, u.cpuUs, u.gpuUs]);
        const fromRows = usageRecordsOf(kept, from, to);
        expect(fromRows.map(key)).toEqual(usageRecordsOf(build(false), from, to).map(key));
        expect(fromRows.map((u) => u.hour)).toEqual(fromRows.map((u) => u.hour).sort((x, y) => x - y));
      }),
    );
  });
});

describe('requestsByTenant', () => {
  it('counts exactly the requests of the rows in the hours asked for, for any hours', () => {
    fc.assert(
      fc.property(fc.array(usageRow, { maxLength: 80 }), fc.integer({ min: 0, max: HOURS }), fc.integer({ min: 0, max: HOURS }), (usage, a, b) => {
        const [from, to] = [T0 + Math.min(a, b) * H, T0 + Math.max(a, b) * H];
        const table = attributionDataOf({ from: T0, to: T0 + HOURS * H }, [], usage).table;
        const expected = new Map<string, bigint>();
        for (const u of usage) if (u.hour >= from && u.hour < to) expected.set(u.tenantId, (expected.get(u.tenantId) ?? 0n) + u.requests);
        const sorted = (m: Map<string, bigint>) => [...m].sort(([x], [y]) => (x < y ? -1 : 1));
        expect(sorted(requestsByTenant(table, from, to))).toEqual(sorted(expected));
        expect(sorted(requestsByTenant(table))).toEqual(sorted(requestsByTenant(table, T0, T0 + HOURS * H)));
      }),
    );
  });
});

describe('mergeAttributionResults', () => {
  it('merging the results of consecutive ranges gives the result of their union, exactly', () => {
    fc.assert(
      fc.property(cases, fc.array(fc.integer({ min: 0, max: HOURS }), { maxLength: 4 }), (c, cuts) => {
        const ctx = contextOf(c);
        const bounds = [...new Set([0, HOURS, ...cuts])].sort((a, b) => a - b).map((i) => T0 + i * H);
        const parts = bounds.slice(1).map((to, i) => referenceResult(ctx, { from: bounds[i]!, to }, c.capacity, c.usage));
        const whole = referenceResult(ctx, { from: T0, to: T0 + HOURS * H }, c.capacity, c.usage);
        expect(bigintJson(mergeAttributionResults(parts))).toBe(bigintJson(whole));
      }),
      { numRuns: 150 },
    );
  });

  it.each([
    ['no parts', [] as AttributionResult[], /nothing to merge/],
    ['a gap between parts', [T0, T0 + H, T0 + 2 * H, T0 + 3 * H], /starts at/],
    ['different idle policies', [T0, T0 + H, T0 + H, T0 + 2 * H, 'even'], /idle policy/],
  ] as const)('refuses %s', (_, spec, message) => {
    const empty = (from: number, to: number, idlePolicy: 'proportional' | 'even' = 'proportional') =>
      attributeCosts({ from, to, now: from, capacity: [], usage: [], prices: [], idlePolicy });
    const parts = spec.length === 0 ? [] : [empty(spec[0] as number, spec[1] as number), empty(spec[2] as number, spec[3] as number, (spec[4] as 'even') ?? 'proportional')];
    expect(() => mergeAttributionResults(parts)).toThrow(message);
  });
});
