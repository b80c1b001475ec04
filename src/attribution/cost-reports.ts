import { formatMoney, type Micros } from '../money/money.ts';
import { microsToSeconds } from '../usage/units.ts';
import { marginByModel, spansOf, spreadShares, type CostContext, type RangeAttribution } from './cost-service.ts';
import type { AttributionResult, ResourceCosts, TenantAttribution } from './types.ts';

/** JSON shapes of the cost endpoints (SPEC §7): money as decimal strings, never numbers. */

const money = formatMoney;
const resources = (r: ResourceCosts) => ({ cpu: money(r.cpu), memory: money(r.memory), gpu: money(r.gpu) });
const iso = (ms: number) => new Date(ms).toISOString();

function marginOf(revenue: Micros, cost: Micros) {
  return { revenue: money(revenue), cost: money(cost), margin: money(revenue - cost) };
}

/** GET /v1/attribution from a range's attribution (`attributeRange`, or `rangeAttributionOf` on data in memory). */
export function attributionReport(ctx: CostContext, attribution: RangeAttribution) {
  const { result, revenue } = attribution;
  const models = marginByModel(ctx, result, revenue);
  const revenueByTenant = new Map<string, Micros>();
  for (const m of models) revenueByTenant.set(m.tenantId, (revenueByTenant.get(m.tenantId) ?? 0n) + m.revenue);
  const revenueOf = (tenantId: string) => revenueByTenant.get(tenantId) ?? 0n;
  const byPlan = new Map<string, { revenue: Micros; cost: Micros }>();
  for (const t of result.tenants) {
    const plan = ctx.planOf(t.tenantId);
    const acc = byPlan.get(plan) ?? { revenue: 0n, cost: 0n };
    acc.revenue += revenueOf(t.tenantId);
    acc.cost += t.totalCost;
    byPlan.set(plan, acc);
  }
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
    tenants: result.tenants.map((t) => {
      const revenue = revenueOf(t.tenantId);
      return {
        tenant: t.tenantId,
        plan: ctx.planOf(t.tenantId),
        usage_cost: money(t.usageCost),
        usage_by_resource: resources(t.usageByResource),
        idle_share: money(t.idleShare),
        overhead_share: money(t.overheadShare),
        total_cost: money(t.totalCost),
        revenue: money(revenue),
        margin: money(revenue - t.totalCost),
      };
    }),
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

function tenantCosts(result: AttributionResult, tenantId: string) {
  return result.tenants.find((t) => t.tenantId === tenantId);
}

export type CostGroupBy = 'model' | 'variant' | 'instance';

/**
 * A tenant's cost over the range per model, model variant or instance. Usage cost is the
 * group's own; the tenant's idle and overhead shares (`shared_cost`) are spread over its groups by
 * usage (unrounded usage for models and variants, as `by_model` does; usage cost for instances),
 * exactly, so the groups add up to the tenant's total. Grouped by model they are `by_model`.
 */
export function costGroups(t: TenantAttribution | undefined, by: CostGroupBy) {
  const acc = new Map<string, { usage: Micros; weight: bigint }>();
  const add = (key: string, usage: Micros, weight: bigint) => {
    const g = acc.get(key) ?? { usage: 0n, weight: 0n };
    g.usage += usage;
    g.weight += weight;
    acc.set(key, g);
  };
  if (by === 'instance') for (const i of t?.byInstance ?? []) add(i.instanceId, i.usageCost, i.usageCost);
  else for (const m of t?.byModel ?? []) add(by === 'model' ? m.model : m.modelVariant, m.usageCost, m.usageValue);
  const keys = [...acc.keys()].sort();
  const pool = (t?.idleShare ?? 0n) + (t?.overheadShare ?? 0n);
  const weights = keys.map((k) => acc.get(k)!.weight);
  const shares = spreadShares(pool, weights);
  return {
    by,
    entries: keys.map((key, i) => {
      const usage = acc.get(key)!.usage;
      const shared = shares[i] ?? 0n;
      return { key, cost: money(usage + shared), usage_cost: money(usage), shared_cost: money(shared) };
    }),
  };
}

/**
 * One tenant's costs. Attribution needs every tenant's usage (idle is shared by policy), but only
 * this tenant's figures leave this function. The series is summed from the tenant's hourly
 * figures, which the engine computes per hour, so the buckets add up exactly to the total.
 */
export function tenantCostReport(ctx: CostContext, attribution: RangeAttribution, tenantId: string, stepSeconds: number, groupBy?: CostGroupBy) {
  const stepMs = Math.max(1, Math.round(stepSeconds / 3600)) * 3_600_000;
  const whole = attribution.result;
  const t = tenantCosts(whole, tenantId);
  const zero = { cpu: 0n, memory: 0n, gpu: 0n };
  const buckets = spansOf(attribution.range, stepMs);
  const sums = bucketSums(attribution, tenantId, stepMs, buckets.length);
  return {
    tenant: tenantId,
    from: iso(whole.from),
    to: iso(whole.to),
    step_seconds: stepMs / 1000,
    currency: ctx.pricing.currency,
    idle_policy: whole.idlePolicy,
    total: money(t?.totalCost ?? 0n),
    usage_cost: money(t?.usageCost ?? 0n),
    by_resource: { ...resources(t?.usageByResource ?? zero), idle_share: money(t?.idleShare ?? 0n), overhead_share: money(t?.overheadShare ?? 0n) },
    // The same split as the margin view's by_model, for this tenant only (not every tenant's).
    by_model: costGroups(t, 'model').entries.map((g) => ({ model: g.key, cost: g.cost })),
    ...(groupBy ? { groups: costGroups(t, groupBy) } : {}),
    series: buckets.map((b, i) => {
      const [usage, idle, overhead] = [sums[3 * i]!, sums[3 * i + 1]!, sums[3 * i + 2]!];
      return {
        t: iso(b.from),
        total: money(usage + idle + overhead),
        usage_cost: money(usage),
        idle_share: money(idle),
        overhead_share: money(overhead),
      };
    }),
  };
}

/** [usage, idle share, overhead share] of `tenantId` per bucket of `stepMs` from the range's start, as bigint sums. */
function bucketSums(attribution: RangeAttribution, tenantId: string, stepMs: number, buckets: number): bigint[] {
  const sums = new Array<bigint>(buckets * 3).fill(0n);
  for (const piece of attribution.tenantHours) {
    const row = piece.byTenant.get(tenantId);
    if (!row) continue;
    for (let i = 0; i < row.length / 3; i++) {
      const b = Math.floor((piece.from + i * 3_600_000 - attribution.range.from) / stepMs);
      for (let k = 0; k < 3; k++) sums[3 * b + k]! += row[3 * i + k]!;
    }
  }
  return sums;
}
