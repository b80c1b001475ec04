import { z } from 'zod';
import type { Store } from '../store/client.ts';
import { dirtyHoursQuery, recomputeHoursQuery, WATERMARK_QUERY } from '../store/queries/rollup.ts';

const JOB = 'usage_hourly';
/**
 * Rows become visible when their insert commits, which can be a little after their ingested_at
 * was stamped. Looking back this far past the watermark catches them; recomputing an hour twice
 * is harmless because the rollup replaces, never adds.
 */
const LOOKBACK_MS = 60_000;
/** Hours recomputed per statement, to bound one INSERT ... SELECT. */
const HOURS_PER_BATCH = 48;

const watermarkRow = z.object({ watermark_ms: z.coerce.number() });
const hourRow = z.object({ hour_ms: z.coerce.number() });
const nowRow = z.object({ now_ms: z.coerce.number() });

export interface RollupResult {
  hours: number;
}

/** Brings usage_hourly up to date with every request row ingested since the last run. */
export async function refreshUsageRollup(store: Store): Promise<RollupResult> {
  // The server's clock, not ours: ingested_at is stamped by the server.
  const [now] = await store.query({ query: 'SELECT toUnixTimestamp64Milli(now64(3)) AS now_ms', schema: nowRow });
  const [mark] = await store.query({ ...WATERMARK_QUERY, params: { job: JOB }, schema: watermarkRow });
  const since = Math.max(0, (mark?.watermark_ms ?? 0) - LOOKBACK_MS);

  const hours = (await store.query({ ...dirtyHoursQuery(since), schema: hourRow })).map((r) => r.hour_ms);
  for (let i = 0; i < hours.length; i += HOURS_PER_BATCH) {
    const q = recomputeHoursQuery(hours.slice(i, i + HOURS_PER_BATCH));
    await store.command(q.query, q.params);
  }
  await store.insert('job_watermarks', [
    { job: JOB, watermark: new Date(now!.now_ms).toISOString(), updated_at: new Date().toISOString() },
  ]);
  return { hours: hours.length };
}
