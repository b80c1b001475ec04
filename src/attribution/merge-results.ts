import { sumMicros, type Micros } from '../money/money.ts';
import type { AttributionResult, ResourceCosts, TenantAttribution, TenantHours } from './types.ts';

/**
 * Merges engine results of consecutive ranges into the result of their union. Exact, not an
 * estimate: every amount the engine reports is a sum over (instance, hour) atoms or over hours
 * (idle and overhead are shared per hour, never across the range), so the union's amounts are the
 * sums of the parts' amounts; tenants, models and instances are the union of the parts', in the
 * engine's order. The conservation check is recomputed on the sums.
 */

type ModelCost = TenantAttribution['byModel'][number];

const HOUR_MS = 3_600_000;

interface TenantSum {
  usage: ResourceCosts;
  idleShare: Micros;
  overheadShare: Micros;
  byModel: Map<string, ModelCost>;
  byInstance: Map<string, Micros>;
}

/** Code-unit order, as the engine sorts: the output must not depend on the host's locale. */
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const addCosts = (a: ResourceCosts, b: ResourceCosts): ResourceCosts => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory, gpu: a.gpu + b.gpu });

const ZERO = (): ResourceCosts => ({ cpu: 0n, memory: 0n, gpu: 0n });

function addTenant(into: TenantSum, t: TenantAttribution): void {
  into.usage = addCosts(into.usage, t.usageByResource);
  into.idleShare += t.idleShare;
  into.overheadShare += t.overheadShare;
  for (const m of t.byModel) {
    const key = `${m.model}\u0000${m.modelVariant}`;
    const acc = into.byModel.get(key);
    if (acc) {
      acc.usageCost += m.usageCost;
      acc.usageValue += m.usageValue;
    } else into.byModel.set(key, { model: m.model, modelVariant: m.modelVariant, usageCost: m.usageCost, usageValue: m.usageValue });
  }
  for (const i of t.byInstance) into.byInstance.set(i.instanceId, (into.byInstance.get(i.instanceId) ?? 0n) + i.usageCost);
}

function tenantOf(tenantId: string, t: TenantSum): TenantAttribution {
  const usageCost = t.usage.cpu + t.usage.memory + t.usage.gpu;
  return {
    tenantId,
    usageCost,
    usageByResource: t.usage,
    idleShare: t.idleShare,
    overheadShare: t.overheadShare,
    totalCost: usageCost + t.idleShare + t.overheadShare,
    byModel: [...t.byModel.values()].sort((a, b) => compareText(a.model, b.model) || compareText(a.modelVariant, b.modelVariant)),
    byInstance: [...t.byInstance.entries()].sort(([a], [b]) => compareText(a, b)).map(([instanceId, usageCost]) => ({ instanceId, usageCost })),
  };
}

export function mergeAttributionResults(parts: readonly AttributionResult[]): AttributionResult {
  const [first] = parts;
  if (!first) throw new RangeError('mergeAttributionResults: nothing to merge');
  parts.forEach((p, i) => {
    const prev = parts[i - 1];
    if (p.idlePolicy !== first.idlePolicy) throw new RangeError('mergeAttributionResults: parts differ in idle policy');
    if (prev && p.from !== prev.to) throw new RangeError(`mergeAttributionResults: part ${i} starts at ${p.from}, not where part ${i - 1} ends (${prev.to})`);
  });
  if (parts.length === 1) return first;
  let capacity = ZERO();
  let idle = ZERO();
  let overhead = 0n;
  let unallocated = 0n;
  const unpriced = { cpuUs: 0n, gpuUs: 0n, hours: 0 };
  const tenants = new Map<string, TenantSum>();
  for (const p of parts) {
    capacity = addCosts(capacity, p.capacityByResource);
    idle = addCosts(idle, p.idleByResource);
    overhead += p.overheadCost;
    unallocated += p.unallocatedIdle;
    unpriced.cpuUs += p.unpricedUsage.cpuUs;
    unpriced.gpuUs += p.unpricedUsage.gpuUs;
    unpriced.hours += p.unpricedUsage.hours;
    for (const t of p.tenants) {
      let acc = tenants.get(t.tenantId);
      if (!acc) {
        acc = { usage: ZERO(), idleShare: 0n, overheadShare: 0n, byModel: new Map(), byInstance: new Map() };
        tenants.set(t.tenantId, acc);
      }
      addTenant(acc, t);
    }
  }
  const merged = [...tenants.entries()].sort(([a], [b]) => compareText(a, b)).map(([id, t]) => tenantOf(id, t));
  const capacityCost = capacity.cpu + capacity.memory + capacity.gpu;
  const difference = capacityCost + overhead - (sumMicros(merged.map((t) => t.totalCost)) + unallocated);
  return {
    from: first.from,
    to: parts[parts.length - 1]!.to,
    idlePolicy: first.idlePolicy,
    capacityCost,
    capacityByResource: capacity,
    overheadCost: overhead,
    idleCost: idle.cpu + idle.memory + idle.gpu,
    idleByResource: idle,
    unallocatedIdle: unallocated,
    tenants: merged,
    unpricedUsage: unpriced,
    conservation: { holds: difference === 0n, difference },
  };
}

/** Tenants' hourly figures of consecutive ranges as those of their union (a copy at each hour's offset). */
export function mergeTenantHours(parts: readonly TenantHours[]): TenantHours {
  const [first] = parts;
  if (!first) throw new RangeError('mergeTenantHours: nothing to merge');
  if (parts.length === 1) return first;
  const last = parts[parts.length - 1]!;
  const slots = ((last.to - first.from) / HOUR_MS) * 3;
  const byTenant = new Map<string, BigInt64Array>();
  parts.forEach((p, i) => {
    if (i > 0 && p.from !== parts[i - 1]!.to) throw new RangeError(`mergeTenantHours: part ${i} starts at ${p.from}, not where part ${i - 1} ends (${parts[i - 1]!.to})`);
    const offset = ((p.from - first.from) / HOUR_MS) * 3;
    for (const [tenantId, row] of p.byTenant) {
      let merged = byTenant.get(tenantId);
      if (!merged) byTenant.set(tenantId, (merged = new BigInt64Array(slots)));
      merged.set(row, offset);
    }
  });
  return { from: first.from, to: last.to, byTenant };
}
