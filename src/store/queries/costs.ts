import { z } from 'zod';
import type { TimeRange } from './time.ts';

/**
 * Reads that feed cost attribution and statements. They read the hourly rollups only (FINAL:
 * never trust merges to have collapsed a recomputed hour), bounded by [from, to) on whole hours,
 * and tenant-bounded where the caller is one tenant.
 */

const HOUR_RANGE = `hour >= toDateTime(intDiv({from:Int64}, 1000), 'UTC') AND hour < toDateTime(intDiv({to:Int64}, 1000), 'UTC')`;

export const capacityHourRow = z.object({
  instance_id: z.string(),
  hour_ms: z.coerce.number(),
  cpu_millicore_ms: z.coerce.bigint(),
  memory_byte_ms: z.coerce.bigint(),
  memory_used_byte_ms: z.coerce.bigint(),
  gpu_model: z.string(),
  gpu_ms: z.coerce.bigint(),
});

export function capacityHoursQuery(range: TimeRange) {
  return {
    query: `SELECT instance_id, toUnixTimestamp(hour) * 1000 AS hour_ms, cpu_millicore_ms, memory_byte_ms,
                   memory_used_byte_ms, gpu_model, gpu_ms
            FROM capacity_hourly FINAL
            WHERE ${HOUR_RANGE}
            ORDER BY instance_id, hour_ms`,
    params: { from: range.from, to: range.to },
  };
}

export const usageHourRow = z.object({
  tenant_id: z.string(),
  instance_id: z.string(),
  hour_ms: z.coerce.number(),
  model: z.string(),
  model_variant: z.string(),
  requests: z.coerce.bigint(),
  input_tokens: z.coerce.bigint(),
  output_tokens: z.coerce.bigint(),
  cpu_us: z.coerce.bigint(),
  gpu_us: z.coerce.bigint(),
  computed_ms: z.coerce.number(),
});
export type UsageHourRow = z.infer<typeof usageHourRow>;

/** Usage per tenant x instance x hour x model variant; one tenant when `tenantId` is given. */
export function usageHoursQuery(range: TimeRange, tenantId?: string) {
  return {
    query: `SELECT tenant_id, instance_id, toUnixTimestamp(hour) * 1000 AS hour_ms, model, model_variant,
                   requests, input_tokens, output_tokens, cpu_us, gpu_us,
                   toUnixTimestamp64Milli(computed_at) AS computed_ms
            FROM usage_hourly FINAL
            WHERE ${tenantId === undefined ? '' : 'tenant_id = {tenant:String} AND '}${HOUR_RANGE}
            ORDER BY tenant_id, hour_ms, model, model_variant, instance_id`,
    params: tenantId === undefined ? { from: range.from, to: range.to } : { tenant: tenantId, from: range.from, to: range.to },
  };
}
