import { z } from 'zod';
import { AppError } from '../../errors.ts';
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

/** One row of `attributionUsageQuery`, as the attribution engine and list revenue take it. */
export interface AttributionUsageRow {
  tenantId: string;
  instanceId: string;
  hour: number;
  model: string;
  modelVariant: string;
  requests: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cpuUs: bigint;
  gpuUs: bigint;
}

const text = (v: unknown): string => {
  if (typeof v !== 'string') throw new TypeError(`expected a string, got ${typeof v}`);
  return v;
};
/** 64-bit counters arrive quoted (output_format_json_quote_64bit_integers); z.coerce.bigint's rule. */
const counter = (v: unknown): bigint => {
  if (typeof v !== 'string' && typeof v !== 'number') throw new TypeError(`expected a 64-bit integer, got ${typeof v}`);
  return BigInt(v);
};

/**
 * Validates and converts one row of `attributionUsageQuery` in a single step. Hand-written rather
 * than a zod schema: a month of every tenant's usage is hundreds of thousands of rows, and the
 * schema's per-row parse plus a second object per row was a large share of attribution's time.
 * Same rules as `usageHourRow`: a missing or mistyped column throws.
 */
export function attributionUsageRow(raw: unknown, index: number): AttributionUsageRow {
  try {
    const r = raw as Record<string, unknown>;
    const hour = Number(text(r['hour_ms']));
    if (!Number.isSafeInteger(hour)) throw new TypeError(`hour_ms ${String(r['hour_ms'])} is not an integer`);
    return {
      tenantId: text(r['tenant_id']),
      instanceId: text(r['instance_id']),
      hour,
      model: text(r['model']),
      modelVariant: text(r['model_variant']),
      requests: counter(r['requests']),
      inputTokens: counter(r['input_tokens']),
      outputTokens: counter(r['output_tokens']),
      cpuUs: counter(r['cpu_us']),
      gpuUs: counter(r['gpu_us']),
    };
  } catch (err) {
    throw new AppError('internal', `unexpected row ${index} from ClickHouse: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Every tenant's usage for attribution, hour first: the reader stores one span of hours at a time
 * in columns indexed by hour, so rows must come in hour order (order within an hour is free: the
 * engine does not depend on row order). Only the columns attribution and list revenue use.
 */
export function attributionUsageQuery(range: TimeRange) {
  return {
    query: `SELECT tenant_id, instance_id, toUnixTimestamp(hour) * 1000 AS hour_ms, model, model_variant,
                   requests, input_tokens, output_tokens, cpu_us, gpu_us
            FROM usage_hourly FINAL
            WHERE ${HOUR_RANGE}
            ORDER BY hour_ms`,
    params: { from: range.from, to: range.to },
  };
}

export const dayFingerprintRow = z.object({
  source: z.enum(['usage', 'capacity']),
  day_ms: z.coerce.number(),
  n: z.coerce.bigint(),
  h: z.string(),
});

/**
 * Per UTC day of [from, to), a fingerprint of exactly what attribution reads (the columns of
 * `attributionUsageQuery` and `capacityHoursQuery`, after FINAL): row count and a wrapping sum of
 * row hashes, per table. A late row, a recomputed hour or a changed capacity sample changes it,
 * so a cached day result is reused only while its inputs are the same.
 */
export function dayFingerprintsQuery(range: TimeRange) {
  return {
    query: `SELECT 'usage' AS source, toUnixTimestamp(toStartOfDay(hour)) * 1000 AS day_ms, count() AS n,
                   toString(sum(cityHash64(tenant_id, instance_id, hour, model, model_variant, requests, input_tokens, output_tokens, cpu_us, gpu_us))) AS h
            FROM usage_hourly FINAL
            WHERE ${HOUR_RANGE}
            GROUP BY day_ms
            UNION ALL
            SELECT 'capacity' AS source, toUnixTimestamp(toStartOfDay(hour)) * 1000 AS day_ms, count() AS n,
                   toString(sum(cityHash64(instance_id, hour, cpu_millicore_ms, memory_byte_ms, memory_used_byte_ms, gpu_model, gpu_ms))) AS h
            FROM capacity_hourly FINAL
            WHERE ${HOUR_RANGE}
            GROUP BY day_ms`,
    params: { from: range.from, to: range.to },
  };
}
