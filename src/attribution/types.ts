import type { Micros } from '../money/money.ts';
import type { CapacityPrices, IdlePolicy } from '../pricing/price-book.ts';

/**
 * Inputs and outputs of the attribution engine (attribute-costs.ts). The engine is pure: the
 * store adapter reads these rows from the hourly rollups, the engine does all the money.
 * Atoms are (instance, hour): capacity is held per instance, usage is measured per tenant on an
 * instance, and every result is a sum over atoms, which is what makes ranges additive.
 */

/** What one instance held and used during one hour (sum over its sampling windows). */
export interface CapacityHour {
  instanceId: string;
  /** Hour start, epoch ms (UTC, whole hour). */
  hour: number;
  /** Σ cpu_capacity_millicores × window ms. */
  cpuMillicoreMs: bigint;
  /** Σ memory_limit_bytes × window ms. */
  memoryByteMs: bigint;
  /** Σ rss_bytes × window ms: the memory actually in use. */
  memoryUsedByteMs: bigint;
  /** GPU model name ('' when none); priced by pricing.capacity[].gpu_hour[model] or ['default']. */
  gpuModel: string;
  /** Σ gpu_count × window ms. */
  gpuMs: bigint;
}

/** What one tenant used on one instance during one hour, for one model variant. */
export interface UsageHour {
  tenantId: string;
  instanceId: string;
  hour: number;
  model: string;
  modelVariant: string;
  cpuUs: bigint;
  gpuUs: bigint;
  /**
   * Requests served (refused ones excluded). A row with 0 is a tenant whose every request that
   * hour was refused: it used nothing and is not active for the `even` idle policy. Absent: active.
   */
  requests?: bigint;
}

export interface AttributionInput {
  /** Whole hours, epoch ms: [from, to). */
  from: number;
  to: number;
  /** Overhead accrues only for hours that have started (hour < now). */
  now: number;
  capacity: readonly CapacityHour[];
  usage: readonly UsageHour[];
  /** pricing.capacity versions, sorted by effective_from. */
  prices: readonly CapacityPrices[];
  idlePolicy: IdlePolicy;
}

export interface ResourceCosts {
  cpu: Micros;
  memory: Micros;
  gpu: Micros;
}

export interface TenantAttribution {
  tenantId: string;
  /** Measured usage × unit price, per resource and in total. */
  usageCost: Micros;
  usageByResource: ResourceCosts;
  idleShare: Micros;
  overheadShare: Micros;
  /** usageCost + idleShare + overheadShare. */
  totalCost: Micros;
  /** Usage cost by model variant (idle and overhead are not per model). */
  /** `usageValue`: the same usage unrounded (1e-12), for splitting shares by model in proportion. */
  byModel: Array<{ model: string; modelVariant: string; usageCost: Micros; usageValue: bigint }>;
  byInstance: Array<{ instanceId: string; usageCost: Micros }>;
}

export interface AttributionResult {
  from: number;
  to: number;
  idlePolicy: IdlePolicy;
  /** Σ held resources × price over every (instance, hour). */
  capacityCost: Micros;
  capacityByResource: ResourceCosts;
  overheadCost: Micros;
  /** capacityCost − Σ usage cost: capacity held but not used. */
  idleCost: Micros;
  idleByResource: ResourceCosts;
  /** Idle and overhead that the policy left with no tenant (the `__idle__` line). */
  unallocatedIdle: Micros;
  /** Sorted by tenantId. */
  tenants: TenantAttribution[];
  /** Usage seen on an instance/hour with no capacity sample: it cannot be priced (reported, not hidden). */
  unpricedUsage: { cpuUs: bigint; gpuUs: bigint; hours: number };
  conservation: { holds: boolean; difference: Micros };
}

/**
 * Each tenant's cost per hour of [from, to): what a tenant's cost series is summed from. Kept in
 * typed arrays (not objects) because the day cache holds one per day for every tenant.
 */
export interface TenantHours {
  from: number;
  to: number;
  /** tenant → for hour i of the range: usage cost at 3i, idle share at 3i + 1, overhead share at 3i + 2 (micros). */
  byTenant: ReadonlyMap<string, BigInt64Array>;
}
