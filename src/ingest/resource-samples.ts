import { z } from 'zod';
import { isWellFormedText } from './json-shape.ts';

/**
 * Resource samples sent over HTTP (`POST /v1/resource-samples`): how a standalone sidecar that
 * exports its spans by OTLP, and so has no ClickHouse the API reads, gets its capacity priced.
 * The rows are the sampler's rows (`sidecar/resources/sampler.ts`), column for column the
 * `resource_samples` and `gpu_samples` tables, so the API writes them as they come once they
 * pass the checks here. Admin key only: capacity is split among every tenant the instance served,
 * so a tenant's key must not be able to add any.
 */

export const SAMPLE_TABLES = ['resource_samples', 'gpu_samples'] as const;
export type SampleTable = (typeof SAMPLE_TABLES)[number];
export const isSampleTable = (table: string): table is SampleTable => (SAMPLE_TABLES as readonly string[]).includes(table);

/** Rows per request and table: a sidecar sends one row (and one per GPU) per 10 s window. */
export const MAX_SAMPLE_ROWS = 10_000;
const UINT64_MAX = 18_446_744_073_709_551_615n;

/** A DateTime64(3) as ClickHouse and the sampler write it: `YYYY-MM-DD hh:mm:ss.mmm` (UTC). */
const chTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/, 'a UTC time as "YYYY-MM-DD hh:mm:ss.mmm"')
  .refine((s) => Number.isFinite(parseChTime(s)), 'not a calendar time');
/** UInt64 columns travel as decimal strings (JSON numbers lose precision above 2^53). */
const uint64 = z
  .string()
  .regex(/^(0|[1-9]\d{0,19})$/, 'a whole number of bytes or microseconds, as a decimal string')
  .refine((s) => BigInt(s) <= UINT64_MAX, 'beyond UInt64');
// A lone UTF-16 surrogate is valid JSON but cannot be stored: the insert would be refused.
const label = z.string().max(256).refine(isWellFormedText, 'not valid Unicode (a lone UTF-16 surrogate)');
const uint = (max: number) => z.number().int().min(0).max(max);

const ResourceSampleRow = z.strictObject({
  ts: chTime,
  window_start: chTime,
  instance_id: label.min(1),
  host: label,
  service_name: label,
  cpu_capacity_millicores: uint(4_294_967_295),
  memory_limit_bytes: uint64,
  cpu_used_us: uint64,
  inference_cpu_us: uint64,
  rss_bytes: uint64,
  gpu_count: uint(255),
  gpu_model: label,
});

const GpuSampleRow = z.strictObject({
  ts: chTime,
  window_start: chTime,
  instance_id: label.min(1),
  gpu_index: uint(255),
  gpu_uuid: label,
  gpu_model: label,
  utilization_pct: z.number().min(0).max(100).nullable(),
  memory_used_bytes: uint64,
  memory_total_bytes: uint64,
  power_watts: z.number().min(0).max(100_000).nullable(),
});

export const ResourceSamplesBody = z.strictObject({
  resource_samples: z.array(ResourceSampleRow).max(MAX_SAMPLE_ROWS).default([]),
  gpu_samples: z.array(GpuSampleRow).max(MAX_SAMPLE_ROWS).default([]),
});
export type ResourceSamplesBody = z.infer<typeof ResourceSamplesBody>;

export interface SampleTimeWindow {
  /** Epoch ms: older samples would land in parts the raw TTL is about to drop (or has). */
  notBeforeMs: number;
  /** Epoch ms: a clock this far ahead is wrong, and its windows would be priced in the future. */
  notAfterMs: number;
}

/** A window is at most this long: the sampler's default is 10 s, and a day covers any setting. */
const MAX_WINDOW_MS = 86_400_000;

/**
 * What the rows say that the schema cannot: a window ends at or after it starts, lasts at most a
 * day and lies in the time the store keeps; inference CPU is part of the process's CPU. One
 * message per problem, naming the row; none means every row may be written.
 */
export function checkSamples(body: ResourceSamplesBody, window: SampleTimeWindow): string[] {
  const problems: string[] = [];
  const checkTimes = (where: string, row: { ts: string; window_start: string }) => {
    const start = parseChTime(row.window_start);
    const end = parseChTime(row.ts);
    if (end < start) problems.push(`${where}: ts is before window_start`);
    else if (end - start > MAX_WINDOW_MS) problems.push(`${where}: a window of more than a day`);
    if (end < window.notBeforeMs || end > window.notAfterMs) problems.push(`${where}: ts ${row.ts} is outside the time the store keeps (or in the future)`);
  };
  body.resource_samples.forEach((row, i) => {
    const where = `resource_samples[${i}]`;
    checkTimes(where, row);
    if (BigInt(row.inference_cpu_us) > BigInt(row.cpu_used_us)) problems.push(`${where}: inference_cpu_us exceeds cpu_used_us`);
  });
  body.gpu_samples.forEach((row, i) => {
    const where = `gpu_samples[${i}]`;
    checkTimes(where, row);
    if (BigInt(row.memory_used_bytes) > BigInt(row.memory_total_bytes)) problems.push(`${where}: memory_used_bytes exceeds memory_total_bytes`);
  });
  return problems;
}

function parseChTime(s: string): number {
  const t = Date.parse(`${s.replace(' ', 'T')}Z`);
  // Date.parse rolls 2026-02-30 over to March: a time that does not print back is not one.
  return Number.isFinite(t) && new Date(t).toISOString() === `${s.replace(' ', 'T')}Z` ? t : Number.NaN;
}
