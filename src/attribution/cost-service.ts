import { apportion, type Micros } from '../money/money.ts';
import { listRevenue } from '../pricing/list-revenue.ts';
import type { PriceBook } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { attributionUsageQuery, attributionUsageRow, capacityHourRow, capacityHoursQuery } from '../store/queries/costs.ts';
import type { TimeRange } from '../store/queries/time.ts';
import { attributeCosts } from './attribute-costs.ts';
import { mergeAttributionResults } from './merge-results.ts';
import type { AttributionResult, CapacityHour } from './types.ts';
import { usageRecordsOf, usageTableBuilder, type UsageRecord, type UsageTable } from './usage-table.ts';

/**
 * Reads the rollups, runs the pure engine, adds revenue and margin. The engine owns every cost
 * decision; this service only moves rows and groups results.
 *
 * Scale: a month of every tenant's usage is read one day at a time into columns (usage-table.ts),
 * and priced one day at a time: the engine runs on each day and the days' results are merged
 * (merge-results.ts), which is exact because every amount is a sum over hours. List revenue is
 * summed in the same pass (it is rounded per row and meter, so it is a sum over rows too).
 */

export interface CostContext {
  store: Store;
  pricing: PriceBook;
  planOf: (tenantId: string) => string;
  now: () => number;
}

const HOUR = 3_600_000;
/** Rows are read and priced this many hours at a time: bounds the JSON text and row objects alive at once. */
export const SPAN_MS = 24 * HOUR;

/** Attribution works on whole hours: from is floored and to is ceiled; responses say so. */
export function toWholeHours(range: TimeRange): TimeRange {
  return { from: Math.floor(range.from / HOUR) * HOUR, to: Math.ceil(range.to / HOUR) * HOUR };
}

export interface AttributionData {
  range: TimeRange;
  capacity: CapacityHour[];
  /**
   * Every usage row of the range, in columns, a day per chunk. Rows come out as objects through
   * `usageRecordsOf(table, from, to)`, a span of hours at a time (each call builds them anew).
   */
  table: UsageTable;
}

/** The spans of at most `stepMs` that cover [from, to), in order. */
export function spansOf(range: TimeRange, stepMs: number): TimeRange[] {
  const out: TimeRange[] = [];
  for (let from = range.from; from < range.to; from += stepMs) out.push({ from, to: Math.min(from + stepMs, range.to) });
  return out;
}

/** Attribution data from rows already in memory (whole hours; usage split into day chunks here). */
export function attributionDataOf(range: TimeRange, capacity: CapacityHour[], usage: readonly UsageRecord[]): AttributionData {
  const builder = usageTableBuilder();
  for (const span of spansOf(range, SPAN_MS)) builder.add(span.from, span.to, usage.filter((u) => u.hour >= span.from && u.hour < span.to));
  return { range, capacity, table: builder.table() };
}

export async function readAttributionData(store: Store, requested: TimeRange): Promise<AttributionData> {
  const range = toWholeHours(requested);
  const capacityRows = await store.query({ ...capacityHoursQuery(range), schema: attributionCapacityRow });
  const builder = usageTableBuilder();
  // One day at a time, in order: only one day's JSON text and parsed rows are ever alive.
  for (const span of spansOf(range, SPAN_MS)) {
    const rows = await store.query<unknown>(attributionUsageQuery(span));
    builder.add(span.from, span.to, rows.map(attributionUsageRow));
  }
  return { range, capacity: capacityRows, table: builder.table() };
}

const attributionCapacityRow = capacityHourRow.transform(
  (r): CapacityHour => ({
    instanceId: r.instance_id,
    hour: r.hour_ms,
    cpuMillicoreMs: r.cpu_millicore_ms,
    memoryByteMs: r.memory_byte_ms,
    memoryUsedByteMs: r.memory_used_byte_ms,
    gpuModel: r.gpu_model,
    gpuMs: r.gpu_ms,
  }),
);

/**
 * The engine over `range` (default: the data's), one chunk of `data.table` at a time, merged.
 * `onRows` sees every usage row in the range exactly once, a span at a time.
 */
export function runAttribution(ctx: CostContext, data: AttributionData, range = data.range, onRows?: (rows: readonly UsageRecord[]) => void): AttributionResult {
  const now = ctx.now();
  const parts = piecesOf(range, data.table).map((piece) => {
    const usage = usageRecordsOf(data.table, piece.from, piece.to);
    onRows?.(usage);
    return attributeCosts({
      from: piece.from,
      to: piece.to,
      now,
      capacity: data.capacity.filter((c) => c.hour >= piece.from && c.hour < piece.to),
      usage,
      prices: ctx.pricing.capacity,
      idlePolicy: ctx.pricing.idle_policy,
    });
  });
  return mergeAttributionResults(parts);
}

/** [from, to) cut at the table's chunk bounds: each piece lies within one chunk (or none). */
function piecesOf(range: TimeRange, table: UsageTable): TimeRange[] {
  const cuts = new Set([range.from, range.to]);
  for (const c of table.chunks) for (const b of [c.from, c.to]) if (b > range.from && b < range.to) cuts.add(b);
  const sorted = [...cuts].sort((a, b) => a - b);
  if (sorted.length === 1) return [range];
  return sorted.slice(1).map((to, i) => ({ from: sorted[i]!, to }));
}

/** List revenue per tenant × model, summed row by row (exact: it is rounded per row and meter). */
export interface RevenueCounter {
  add(rows: readonly UsageRecord[]): void;
  of(tenantId: string, model: string): Micros;
}

export function revenueCounter(ctx: CostContext): RevenueCounter {
  const byTenant = new Map<string, { plan: PriceBook['plans'][string]; byModel: Map<string, Micros> }>();
  const single: UsageRecord[] = [];
  return {
    add(rows) {
      for (const r of rows) {
        let t = byTenant.get(r.tenantId);
        if (!t) {
          t = { plan: ctx.pricing.plans[ctx.planOf(r.tenantId)] ?? [], byModel: new Map() };
          byTenant.set(r.tenantId, t);
        }
        single[0] = r;
        t.byModel.set(r.model, (t.byModel.get(r.model) ?? 0n) + listRevenue(t.plan, single));
      }
    },
    of: (tenantId, model) => byTenant.get(tenantId)?.byModel.get(model) ?? 0n,
  };
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
export function marginByModel(ctx: CostContext, result: AttributionResult, revenue: Pick<RevenueCounter, 'of'>): ModelMargin[] {
  const out: ModelMargin[] = [];
  for (const t of result.tenants) {
    const usageCost = new Map<string, Micros>();
    const usageValue = new Map<string, bigint>();
    for (const m of t.byModel) {
      usageCost.set(m.model, (usageCost.get(m.model) ?? 0n) + m.usageCost);
      usageValue.set(m.model, (usageValue.get(m.model) ?? 0n) + m.usageValue);
    }
    const models = [...usageCost.keys()].sort();
    // Shares follow unrounded usage (as the proportional policy does); with no usage at all
    // (the `even` policy charges idle tenants too) they are split evenly across models.
    const pool = t.idleShare + t.overheadShare;
    const values = models.map((model) => usageValue.get(model) ?? 0n);
    const shares = apportion(pool, values) ?? apportion(pool, models.map(() => 1n)) ?? [];
    models.forEach((model, i) => {
      out.push({ tenantId: t.tenantId, model, revenue: revenue.of(t.tenantId, model), cost: (usageCost.get(model) ?? 0n) + (shares[i] ?? 0n) });
    });
  }
  return out;
}
