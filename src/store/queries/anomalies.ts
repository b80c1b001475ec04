import { z } from 'zod';
import type { TimeRange } from './time.ts';

/** Hourly per-tenant series for the anomaly scan, from the deduplicated hourly rollup. */

const HOUR_RANGE = `hour >= toDateTime(intDiv({from:Int64}, 1000), 'UTC') AND hour < toDateTime(intDiv({to:Int64}, 1000), 'UTC')`;

export const scanRow = z.object({
  tenant_id: z.string(),
  hour_ms: z.coerce.number(),
  model: z.string(),
  model_variant: z.string(),
  instance_id: z.string(),
  requests: z.coerce.number(),
  errors: z.coerce.number(),
  gpu_us: z.coerce.number(),
  /** NaN (as null or "nan") when the group served nothing. */
  p95_ms: z.union([z.number(), z.string(), z.null()]).transform((v) => (v === null ? NaN : Number(v))),
});
export type ScanRow = z.infer<typeof scanRow>;

/**
 * Per tenant x hour (`totals`: the tenant's p95 merged from the digests, never averaged) or per
 * tenant x hour x model x variant x instance (the breakdown behind an anomaly's contributors);
 * only `tenants` when given.
 */
export function scanRowsQuery(range: TimeRange, level: 'totals' | 'detail', tenants?: readonly string[]) {
  const dims = level === 'detail' ? 'model, model_variant, instance_id' : "'' AS model, '' AS model_variant, '' AS instance_id";
  const groupBy = level === 'detail' ? 'tenant_id, hour_ms, model, model_variant, instance_id' : 'tenant_id, hour_ms';
  return {
    query: `SELECT tenant_id, toUnixTimestamp(hour) * 1000 AS hour_ms, ${dims},
                   sum(requests) AS requests, sum(errors) AS errors, sum(gpu_us) AS gpu_us,
                   quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[2] AS p95_ms
            FROM usage_hourly FINAL
            WHERE ${HOUR_RANGE}${tenants ? ' AND tenant_id IN {tenants:Array(String)}' : ''}
            GROUP BY ${groupBy}
            ORDER BY tenant_id, hour_ms`,
    params: tenants ? { from: range.from, to: range.to, tenants: [...tenants] } : { from: range.from, to: range.to },
  };
}

export const p95Row = z.object({
  tenant_id: z.string(),
  hour_ms: z.coerce.number(),
  dimension: z.enum(['model', 'variant', 'instance']),
  key: z.string(),
  p95_ms: scanRow.shape.p95_ms,
});
export type P95Row = z.infer<typeof p95Row>;

/**
 * p95 per tenant x hour x model, x variant and x instance, each merged from the digests of every
 * row of that key (a model on two replicas, an instance serving two models): a percentile is not
 * a sum, so the detail rows cannot be combined afterwards. Only `tenants` when given.
 */
export function p95ByKeyQuery(range: TimeRange, tenants?: readonly string[]) {
  return {
    query: `SELECT tenant_id, toUnixTimestamp(hour) * 1000 AS hour_ms, dk.1 AS dimension, dk.2 AS key,
                   quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[2] AS p95_ms
            FROM usage_hourly FINAL
            ARRAY JOIN [('model', toString(model)), ('variant', toString(model_variant)), ('instance', toString(instance_id))] AS dk
            WHERE ${HOUR_RANGE}${tenants ? ' AND tenant_id IN {tenants:Array(String)}' : ''}
            GROUP BY tenant_id, hour_ms, dimension, key
            ORDER BY tenant_id, hour_ms`,
    params: tenants ? { from: range.from, to: range.to, tenants: [...tenants] } : { from: range.from, to: range.to },
  };
}
