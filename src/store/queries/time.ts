/** SQL fragments for the [from, to) bounds every read carries, bound as epoch milliseconds. */
export const TS_RANGE = 'ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64})';

export interface TimeRange {
  /** Epoch milliseconds, inclusive. */
  from: number;
  /** Epoch milliseconds, exclusive. */
  to: number;
}
