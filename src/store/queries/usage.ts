import { z } from 'zod';
import { TS_RANGE, type TimeRange } from './time.ts';

/**
 * Usage reads straight from `requests FINAL`: always fresh (no rollup lag) and deduplicated at
 * read time, so a span delivered twice counts once here too. Tenant first in every WHERE, matching
 * the sort key.
 */

export const USAGE_GROUPS = { model: 'model', variant: 'model_variant', instance: 'instance_id' } as const;
export type UsageGroup = keyof typeof USAGE_GROUPS;

const AGGREGATES = `
    countIf(status != 'rejected') AS requests,
    countIf(status = 'error') AS errors,
    countIf(status = 'rejected') AS rejected,
    sum(cpu_us) AS cpu_us,
    sum(gpu_us) AS gpu_us,
    sumIf(input_tokens, status != 'rejected') AS input_tokens,
    sumIf(output_tokens, status != 'rejected') AS output_tokens`;

export const usageAggregateRow = z.object({
  requests: z.coerce.number(),
  errors: z.coerce.number(),
  rejected: z.coerce.number(),
  cpu_us: z.coerce.bigint(),
  gpu_us: z.coerce.bigint(),
  input_tokens: z.coerce.number(),
  output_tokens: z.coerce.number(),
});

export const usageGroupRow = usageAggregateRow.extend({
  key: z.string(),
  /** [p50, p95, p99] in ms over served (non-rejected) requests: NaN or null (engine versions differ) when there were none. */
  latency_ms: z.array(z.union([z.number(), z.string(), z.null()]).transform((v) => (v === null ? Number.NaN : Number(v)))),
});

export const usageSeriesRow = usageAggregateRow.extend({ bucket: z.coerce.number().int().nonnegative() });

export function usageByGroupQuery(tenantId: string, range: TimeRange, group: UsageGroup) {
  return {
    query: `SELECT ${USAGE_GROUPS[group]} AS key, ${AGGREGATES},
                   quantilesIf(0.5, 0.95, 0.99)(duration_ns / 1e6, status != 'rejected') AS latency_ms
            FROM requests FINAL
            WHERE tenant_id = {tenant:String} AND ${TS_RANGE}
            GROUP BY key
            ORDER BY key`,
    params: { tenant: tenantId, from: range.from, to: range.to },
  };
}

/**
 * Usage per bucket of `stepSeconds` counted from the range's start (as a Prometheus range query
 * steps from `start`, and as the cost series does): bucket k is [from + k·step, from + (k+1)·step).
 * Only buckets with rows come back; the caller fills the others with zeros.
 */
export function usageSeriesQuery(tenantId: string, range: TimeRange, stepSeconds: number) {
  return {
    query: `SELECT intDiv(toUnixTimestamp64Milli(ts) - {from:Int64}, {step_ms:Int64}) AS bucket,
                   ${AGGREGATES}
            FROM requests FINAL
            WHERE tenant_id = {tenant:String} AND ${TS_RANGE}
            GROUP BY bucket
            ORDER BY bucket`,
    params: { tenant: tenantId, from: range.from, to: range.to, step_ms: stepSeconds * 1000 },
  };
}
