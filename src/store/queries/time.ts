/** SQL fragments for the [from, to) bounds every read carries, bound as epoch milliseconds. */
export const TS_RANGE = 'ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64})';

/** DateTime64(3) text in UTC, as rows are inserted: 'YYYY-MM-DD HH:MM:SS.mmm'. */
export function formatClickHouseTime(epochMs: number): string {
  if (!Number.isFinite(epochMs)) throw new RangeError(`formatClickHouseTime: not a time: ${epochMs}`);
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '');
}

export interface TimeRange {
  /** Epoch milliseconds, inclusive. */
  from: number;
  /** Epoch milliseconds, exclusive. */
  to: number;
}
