import { attributeRange, type CostContext } from '../attribution/cost-service.ts';
import type { TenantAttribution } from '../attribution/types.ts';
import type { Micros } from '../money/money.ts';
import { monthWindow } from '../quotas/windows.ts';
import type { UsageHourRow } from '../store/queries/costs.ts';
import { byWeightDescending } from './tenant-labeler.ts';
import type { TenantCostSnapshot } from './tenant-gauges.ts';

/**
 * Month-to-date attributed cost per tenant for the cost gauge: the attribution engine over
 * [start of the UTC month, now), refreshed by a job (a scrape must not run attribution). A failed
 * refresh keeps the last snapshot: the gauge shows the last known cost, never a made-up 0.
 * Each refresh also reports the month's tenants busiest first (by requests), so the composition
 * root can offer them the metric label slots before traffic does.
 */

export interface CostSnapshotSource {
  /** The last successful refresh; undefined before the first. */
  current(): TenantCostSnapshot | undefined;
  refresh(): Promise<void>;
}

export interface CostSnapshotOptions {
  /** Told after every refresh, with the month's tenants ordered by requests, busiest first. */
  onRanking?: (tenantsBusiestFirst: string[]) => void;
}

export function createCostSnapshot(ctx: CostContext, opts: CostSnapshotOptions = {}): CostSnapshotSource {
  let last: TenantCostSnapshot | undefined;
  return {
    current: () => last,
    async refresh() {
      const now = ctx.now();
      // With the context's day cache, only today and days whose rollups changed are priced again.
      const attribution = await attributeRange({ ...ctx, now: () => now }, { from: monthWindow(now).start, to: now });
      last = costSnapshotOf(attribution.result, ctx.pricing.currency);
      opts.onRanking?.(busiestFirst(attribution.requestsByTenant));
    },
  };
}

/** Total (fully loaded) cost per tenant in currency units. Pure. */
export function costSnapshotOf(result: { tenants: ReadonlyArray<Pick<TenantAttribution, 'tenantId' | 'totalCost'>> }, currency: string): TenantCostSnapshot {
  return { currency, costs: new Map(result.tenants.map((t) => [t.tenantId, microsToUnits(t.totalCost)])) };
}

/** Tenants with requests, busiest first (ties by id). Pure. */
export function tenantsByRequests(rows: ReadonlyArray<Pick<UsageHourRow, 'tenant_id' | 'requests'>>): string[] {
  const requests = new Map<string, bigint>();
  for (const r of rows) requests.set(r.tenant_id, (requests.get(r.tenant_id) ?? 0n) + r.requests);
  return busiestFirst(requests);
}

function busiestFirst(requests: ReadonlyMap<string, bigint>): string[] {
  return byWeightDescending(new Map([...requests].filter(([, n]) => n > 0n)));
}

/** A gauge is a float: exact to the micro up to 2^53 micros (~9 billion currency units). */
const microsToUnits = (m: Micros): number => Number(m) / 1e6;
