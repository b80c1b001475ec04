import { apportion, type Micros } from '../money/money.ts';
import { listRevenue } from '../pricing/list-revenue.ts';
import type { PriceBook } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { capacityHourRow, capacityHoursQuery, usageHourRow, usageHoursQuery, type UsageHourRow } from '../store/queries/costs.ts';
import type { TimeRange } from '../store/queries/time.ts';
import { attributeCosts } from './attribute-costs.ts';
import type { AttributionResult, CapacityHour, UsageHour } from './types.ts';

/**
 * Reads the rollups, runs the pure engine, adds revenue and margin. The engine owns every cost
 * decision; this service only moves rows and groups results.
 */

export interface CostContext {
  store: Store;
  pricing: PriceBook;
  planOf: (tenantId: string) => string;
  now: () => number;
}

const HOUR = 3_600_000;

/** Attribution works on whole hours: from is floored and to is ceiled; responses say so. */
export function toWholeHours(range: TimeRange): TimeRange {
  return { from: Math.floor(range.from / HOUR) * HOUR, to: Math.ceil(range.to / HOUR) * HOUR };
}

export interface AttributionData {
  range: TimeRange;
  capacity: CapacityHour[];
  usage: UsageHour[];
  usageRows: UsageHourRow[];
}

export async function readAttributionData(store: Store, requested: TimeRange): Promise<AttributionData> {
  const range = toWholeHours(requested);
  const [capacityRows, usageRows] = await Promise.all([
    store.query({ ...capacityHoursQuery(range), schema: capacityHourRow }),
    store.query({ ...usageHoursQuery(range), schema: usageHourRow }),
  ]);
  return {
    range,
    usageRows,
    capacity: capacityRows.map((r) => ({
      instanceId: r.instance_id,
      hour: r.hour_ms,
      cpuMillicoreMs: r.cpu_millicore_ms,
      memoryByteMs: r.memory_byte_ms,
      memoryUsedByteMs: r.memory_used_byte_ms,
      gpuModel: r.gpu_model,
      gpuMs: r.gpu_ms,
    })),
    usage: usageRows.map((r) => ({
      tenantId: r.tenant_id,
      instanceId: r.instance_id,
      hour: r.hour_ms,
      model: r.model,
      modelVariant: r.model_variant,
      cpuUs: r.cpu_us,
      gpuUs: r.gpu_us,
    })),
  };
}

export function runAttribution(ctx: CostContext, data: AttributionData, range = data.range): AttributionResult {
  return attributeCosts({
    from: range.from,
    to: range.to,
    now: ctx.now(),
    capacity: data.capacity,
    usage: data.usage,
    prices: ctx.pricing.capacity,
    idlePolicy: ctx.pricing.idle_policy,
  });
}

export interface ModelMargin {
  tenantId: string;
  model: string;
  revenue: Micros;
  cost: Micros;
}

/**
 * Revenue (list price) and fully loaded cost per tenant x model. A tenant's idle and overhead
 * shares are spread over its models by usage cost, so model costs add up to the tenant's total.
 */
export function marginByModel(ctx: CostContext, result: AttributionResult, usageRows: readonly UsageHourRow[]): ModelMargin[] {
  const rowsByKey = new Map<string, ReturnType<typeof toQuantities>[]>();
  for (const r of usageRows) {
    if (r.hour_ms < result.from || r.hour_ms >= result.to) continue;
    const key = `${r.tenant_id}\u0000${r.model}`;
    const list = rowsByKey.get(key);
    if (list) list.push(toQuantities(r));
    else rowsByKey.set(key, [toQuantities(r)]);
  }
  const out: ModelMargin[] = [];
  for (const t of result.tenants) {
    const plan = ctx.pricing.plans[ctx.planOf(t.tenantId)] ?? [];
    const models = [...new Set(t.byModel.map((m) => m.model))].sort();
    const ofModel = (model: string) => t.byModel.filter((m) => m.model === model);
    const usageCost = models.map((model) => ofModel(model).reduce((a, m) => a + m.usageCost, 0n));
    // Shares follow unrounded usage (as the proportional policy does); with no usage at all
    // (the `even` policy charges idle tenants too) they are split evenly across models.
    const usageValue = models.map((model) => ofModel(model).reduce((a, m) => a + m.usageValue, 0n));
    const pool = t.idleShare + t.overheadShare;
    const shares = apportion(pool, usageValue) ?? apportion(pool, models.map(() => 1n)) ?? [];
    models.forEach((model, i) => {
      const rows = rowsByKey.get(`${t.tenantId}\u0000${model}`) ?? [];
      out.push({ tenantId: t.tenantId, model, revenue: listRevenue(plan, rows), cost: usageCost[i]! + (shares[i] ?? 0n) });
    });
  }
  return out;
}

export function toQuantities(r: UsageHourRow) {
  return { hour: r.hour_ms, requests: r.requests, inputTokens: r.input_tokens, outputTokens: r.output_tokens, cpuUs: r.cpu_us, gpuUs: r.gpu_us };
}
