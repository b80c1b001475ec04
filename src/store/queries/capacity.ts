/**
 * SQL of the hourly capacity rollup (migration 0004): pure builders returning { query, params }.
 * Same scheme as the usage rollup: hours touched since the watermark are recomputed whole.
 */

export function dirtyCapacityHoursQuery(sinceMs: number, notBeforeMs: number) {
  return {
    query: `SELECT DISTINCT toUnixTimestamp(toStartOfHour(window_start)) * 1000 AS hour_ms
            FROM resource_samples
            WHERE ingested_at >= fromUnixTimestamp64Milli({since:Int64})
              AND window_start >= fromUnixTimestamp64Milli({not_before:Int64})
            ORDER BY hour_ms`,
    params: { since: sinceMs, not_before: notBeforeMs },
  };
}

export function recomputeCapacityHoursQuery(hourStartsMs: readonly number[]) {
  return {
    query: `INSERT INTO capacity_hourly
            SELECT
                instance_id,
                toStartOfHour(window_start) AS hour,
                sum(w) AS window_ms,
                sum(toUInt128(cpu_capacity_millicores) * w) AS cpu_millicore_ms,
                sum(toUInt128(memory_limit_bytes) * w) AS memory_byte_ms,
                sum(toUInt128(rss_bytes) * w) AS memory_used_byte_ms,
                argMax(gpu_model, window_start) AS gpu_model,
                sum(toUInt128(gpu_count) * w) AS gpu_ms,
                sum(cpu_used_us) AS cpu_used_us,
                sum(inference_cpu_us) AS inference_cpu_us,
                now64(3) AS computed_at
            FROM (
                SELECT *, toUInt64(greatest(0, dateDiff('millisecond', window_start, ts))) AS w
                FROM resource_samples FINAL
                WHERE toStartOfHour(window_start) IN (
                    SELECT toDateTime(intDiv(h, 1000), 'UTC') FROM (SELECT arrayJoin({hours:Array(Int64)}) AS h)
                )
            )
            GROUP BY instance_id, hour`,
    params: { hours: [...hourStartsMs] },
  };
}
