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
 * Validates one row of `attributionUsageQuery` (a tenant × instance × model variant with its
 * hours in parallel arrays) and appends its hour rows to `out`, in a single step. Hand-written
 * rather than a zod schema: a month of every tenant's usage is hundreds of thousands of rows, and
 * a schema's per-row parse plus a second object per row was a large share of attribution's time.
 * Same rules as `usageHourRow`: a missing or mistyped value throws, as does an hour outside the
 * span read or arrays of different lengths.
 */
export function appendAttributionUsageRows(out: AttributionUsageRow[], raw: unknown, index: number, span: TimeRange): void {
  try {
    if (!Array.isArray(raw) || raw.length !== ATTRIBUTION_USAGE_COLUMNS) throw new TypeError(`expected ${ATTRIBUTION_USAGE_COLUMNS} columns`);
    const [tenant, instance, model, variant, hours, requests, inputTokens, outputTokens, cpuUs, gpuUs] = raw as unknown[];
    const tenantId = text(tenant);
    const instanceId = text(instance);
    const modelName = text(model);
    const modelVariant = text(variant);
    const columns = [hours, requests, inputTokens, outputTokens, cpuUs, gpuUs].map(list);
    const n = columns[0]!.length;
    if (columns.some((c) => c.length !== n)) throw new TypeError('hour arrays of different lengths');
    const spanHours = (span.to - span.from) / HOUR_MS;
    for (let i = 0; i < n; i++) {
      const h = Number(columns[0]![i]);
      if (!Number.isInteger(h) || h < 0 || h >= spanHours) throw new TypeError(`hour index ${String(columns[0]![i])} is outside the ${spanHours} hours read`);
      out.push({
        tenantId,
        instanceId,
        hour: span.from + h * HOUR_MS,
        model: modelName,
        modelVariant,
        requests: counter(columns[1]![i]),
        inputTokens: counter(columns[2]![i]),
        outputTokens: counter(columns[3]![i]),
        cpuUs: counter(columns[4]![i]),
        gpuUs: counter(columns[5]![i]),
      });
    }
  } catch (err) {
    throw new AppError('internal', `unexpected row ${index} from ClickHouse: ${(err as Error).message}`, { cause: err });
  }
}

const HOUR_MS = 3_600_000;
const ATTRIBUTION_USAGE_COLUMNS = 10;

const list = (v: unknown): unknown[] => {
  if (!Array.isArray(v)) throw new TypeError(`expected an array, got ${typeof v}`);
  return v;
};

/**
 * Every tenant's usage of [from, to) for attribution and list revenue (read with
 * `store.queryCompact`, one day at a time): one row per tenant × instance × model variant, with
 * its hours (index from `from`) and their counters in parallel arrays. Grouped so that the
 * names travel once a day instead of once an hour: a seventh of the bytes of one JSON object per
 * hour, and transferring and parsing those bytes was most of a month's attribution. Only the columns
 * attribution and list revenue use; the order of hours within a row is free (the reader sorts
 * by hour).
 */
export function attributionUsageQuery(range: TimeRange) {
  return {
    query: `SELECT tenant_id, instance_id, model, model_variant,
                   groupArray(intDiv(toUnixTimestamp(hour) * 1000 - {from:Int64}, 3600000)),
                   groupArray(requests), groupArray(input_tokens), groupArray(output_tokens), groupArray(cpu_us), groupArray(gpu_us)
            FROM usage_hourly FINAL
            WHERE ${HOUR_RANGE}
            GROUP BY tenant_id, instance_id, model, model_variant`,
    params: { from: range.from, to: range.to },
  };
}

export const hourFingerprintRow = z.object({
  source: z.enum(['usage', 'capacity']),
  hour_ms: z.coerce.number(),
  n: z.coerce.bigint(),
  h: z.coerce.bigint(),
});

/**
 * Per UTC hour of [from, to) that has rows, a fingerprint of exactly what attribution reads (the
 * columns of `attributionUsageQuery` and `capacityHoursQuery`, after FINAL): row count and a
 * wrapping (UInt64) sum of row hashes, per table. A late row, a recomputed hour or a changed
 * capacity sample changes it, so a cached result is reused only while its inputs are the same.
 * Both parts add up: a day's fingerprint is the sum of its hours' (the hash sum modulo 2^64).
 */
export function hourFingerprintsQuery(range: TimeRange) {
  return {
    query: `SELECT 'usage' AS source, toUnixTimestamp(hour) * 1000 AS hour_ms, count() AS n,
                   toString(sum(cityHash64(tenant_id, instance_id, hour, model, model_variant, requests, input_tokens, output_tokens, cpu_us, gpu_us))) AS h
            FROM usage_hourly FINAL
            WHERE ${HOUR_RANGE}
            GROUP BY hour_ms
            UNION ALL
            SELECT 'capacity' AS source, toUnixTimestamp(hour) * 1000 AS hour_ms, count() AS n,
                   toString(sum(cityHash64(instance_id, hour, cpu_millicore_ms, memory_byte_ms, memory_used_byte_ms, gpu_model, gpu_ms))) AS h
            FROM capacity_hourly FINAL
            WHERE ${HOUR_RANGE}
            GROUP BY hour_ms`,
    params: { from: range.from, to: range.to },
  };
}
