import { z } from 'zod';
import type { Store } from '../store/client.ts';
import { dirtyCapacityHoursQuery, recomputeCapacityHoursQuery } from '../store/queries/capacity.ts';
import { dirtyHoursQuery, recomputeHoursQuery, WATERMARK_QUERY } from '../store/queries/rollup.ts';

/**
 * Rows become visible when their insert commits, which can be a little after their ingested_at
 * was stamped. Looking back this far past the watermark catches them; recomputing an hour twice
 * is harmless because the rollups replace, never add.
 */
const LOOKBACK_MS = 60_000;
/** Hours recomputed per statement, to bound one INSERT ... SELECT. */
const HOURS_PER_BATCH = 48;
const DAY_MS = 86_400_000;

interface RollupSpec {
  job: string;
  dirtyHours: (sinceMs: number, notBeforeMs: number) => { query: string; params: Record<string, unknown> };
  recompute: (hours: readonly number[]) => { query: string; params: Record<string, unknown> };
}

const USAGE: RollupSpec = { job: 'usage_hourly', dirtyHours: dirtyHoursQuery, recompute: recomputeHoursQuery };
const CAPACITY: RollupSpec = { job: 'capacity_hourly', dirtyHours: dirtyCapacityHoursQuery, recompute: recomputeCapacityHoursQuery };

const watermarkRow = z.object({ watermark_ms: z.coerce.number() });
const hourRow = z.object({ hour_ms: z.coerce.number() });
const nowRow = z.object({ now_ms: z.coerce.number() });

export interface RollupOptions {
  /** Raw retention: an hour whose raw rows may have expired is never recomputed (it would shrink). */
  rawTtlDays: number;
}

export interface RollupResult {
  usageHours: number;
  capacityHours: number;
}

/** Brings usage_hourly and capacity_hourly up to date with every row ingested since the last run. */
export async function refreshRollups(store: Store, opts: RollupOptions): Promise<RollupResult> {
  return {
    usageHours: await refreshRollup(store, USAGE, opts),
    capacityHours: await refreshRollup(store, CAPACITY, opts),
  };
}

async function refreshRollup(store: Store, spec: RollupSpec, opts: RollupOptions): Promise<number> {
  // The server's clock, not ours: ingested_at is stamped by the server.
  const [now] = await store.query({ query: 'SELECT toUnixTimestamp64Milli(now64(3)) AS now_ms', schema: nowRow });
  const nowMs = now!.now_ms;
  const [mark] = await store.query({ ...WATERMARK_QUERY, params: { job: spec.job }, schema: watermarkRow });
  const since = Math.max(0, (mark?.watermark_ms ?? 0) - LOOKBACK_MS);
  // Late rows for hours at the edge of raw retention are left out of the rollup rather than
  // letting a recompute over partly expired raw data rewrite a complete hour with less.
  const notBefore = nowMs - (opts.rawTtlDays - 1) * DAY_MS;

  const hours = (await store.query({ ...spec.dirtyHours(since, notBefore), schema: hourRow })).map((r) => r.hour_ms);
  for (let i = 0; i < hours.length; i += HOURS_PER_BATCH) {
    const q = spec.recompute(hours.slice(i, i + HOURS_PER_BATCH));
    await store.command(q.query, q.params);
  }
  await store.insert('job_watermarks', [
    { job: spec.job, watermark: new Date(nowMs).toISOString(), updated_at: new Date().toISOString() },
  ]);
  return hours.length;
}
