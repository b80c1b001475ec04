/**
 * SQL of the hourly usage rollup (see migration 0003 for why it is recomputed, not summed).
 * Builders are pure and return { query, params }; jobs/rollup runs them.
 */

/** Hours that received request rows since the watermark (ingested_at is set by the server). */
export function dirtyHoursQuery(sinceMs: number, notBeforeMs: number) {
  return {
    query: `SELECT DISTINCT toUnixTimestamp(toStartOfHour(ts)) * 1000 AS hour_ms
            FROM requests
            WHERE ingested_at >= fromUnixTimestamp64Milli({since:Int64})
              AND ts >= fromUnixTimestamp64Milli({not_before:Int64})
            ORDER BY hour_ms`,
    params: { since: sinceMs, not_before: notBeforeMs },
  };
}

/** Recomputes whole hours from the deduplicated requests; the newest computation wins. */
export function recomputeHoursQuery(hourStartsMs: readonly number[]) {
  const select = recomputeHoursSelect(hourStartsMs);
  return { query: `INSERT INTO usage_hourly\n${select.query}`, params: select.params };
}

/** The SELECT of `recomputeHoursQuery`: the hours' usage_hourly rows, computed afresh (also the rollup bench's baseline). */
export function recomputeHoursSelect(hourStartsMs: readonly number[]) {
  return {
    query: `SELECT
                tenant_id,
                toStartOfHour(ts) AS hour,
                model,
                model_variant,
                instance_id,
                countIf(status != 'rejected') AS requests,
                countIf(status = 'error') AS errors,
                countIf(status = 'rejected') AS rejected,
                sum(cpu_us) AS cpu_us,
                sum(gpu_us) AS gpu_us,
                sumIf(input_tokens, status != 'rejected') AS input_tokens,
                sumIf(output_tokens, status != 'rejected') AS output_tokens,
                sumIf(input_elements, status != 'rejected') AS input_elements,
                sumIf(output_elements, status != 'rejected') AS output_elements,
                sumIf(duration_ns, status != 'rejected') AS duration_ns_sum,
                quantilesStateIf(0.5, 0.95, 0.99)(duration_ns / 1e6, status != 'rejected') AS latency_ms_quantiles,
                now64(3) AS computed_at
            FROM requests FINAL
            WHERE toStartOfHour(ts) IN (
                SELECT toDateTime(intDiv(h, 1000), 'UTC') FROM (SELECT arrayJoin({hours:Array(Int64)}) AS h)
            )
            GROUP BY tenant_id, hour, model, model_variant, instance_id`,
    params: { hours: [...hourStartsMs] },
  };
}

export const WATERMARK_QUERY = {
  query: `SELECT toUnixTimestamp64Milli(watermark) AS watermark_ms FROM job_watermarks FINAL WHERE job = {job:String}`,
};
