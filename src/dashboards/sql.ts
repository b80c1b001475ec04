/**
 * SQL fragments shared by the boards. Only Grafana's own macros and variables ever reach the
 * SQL: `$__timeFilter`, `$__fromTime`, `$__toTime`, `$__timeInterval`, `$__interval_s` (expanded by
 * the plugin's backend) and `${var:singlequote}` (Grafana quotes and escapes each value). Macro
 * arguments are plain column names: old sqlds versions split them on commas without counting
 * parentheses.
 */

/** Hourly rollups: hours that overlap the picked range (a range starting mid-hour keeps that hour). */
export const hourInRange = (column = 'hour') => `${column} >= toStartOfHour($__fromTime) AND ${column} <= $__toTime`;

/** Buckets of hourly rows: the panel interval, never finer than the hour the rows have. */
export const hourBucket = (column = 'hour') => `toStartOfInterval(${column}, INTERVAL greatest($__interval_s, 3600) second)`;

/** Seconds per bucket of `hourBucket`, to turn counts into rates. */
export const HOUR_BUCKET_SECONDS = 'greatest($__interval_s, 3600)';

/** Statement periods ('YYYY-MM', UTC months) that overlap the picked range. */
export const PERIOD_IN_RANGE = `period >= formatDateTime($__fromTime, '%Y-%m', 'UTC') AND period <= formatDateTime($__toTime, '%Y-%m', 'UTC')`;

/** Alert episodes that overlap the picked range: started before its end, not ended before its start. */
export const EPISODE_IN_RANGE = 'starts_at <= $__toTime AND (ends_at IS NULL OR ends_at >= $__fromTime)';

/**
 * A multi-value variable as a filter: `1=1` when All is selected (the plugin's `$__conditionalAll`,
 * applied before Grafana interpolates, so the All value itself never reaches the SQL), else
 * `column IN ('a','b')`. The second argument must be the bare `$name` form: the plugin looks the
 * variable up by stripping the first character.
 */
export const anyOf = (variable: string, column: string) => `$__conditionalAll(${column} IN (\${${variable}:singlequote}), $${variable})`;

/** A single-value variable as a filter. */
export const equals = (variable: string, column: string) => `${column} = \${${variable}:singlequote}`;
