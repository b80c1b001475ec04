/**
 * Recent (timestamp, value) samples, so that seasonal forecasts can look up "the value at the
 * same time yesterday / last week" by time rather than by row: sampling may be irregular or
 * have gaps, and a row offset would then point at the wrong hour.
 */
export class TimeHistory {
  private times: number[] = [];
  private values: number[] = [];

  /** Keeps samples newer than `spanMs` and at most `maxRows` of them. */
  constructor(
    private readonly spanMs: number,
    private readonly maxRows: number,
  ) {}

  push(timestampMs: number, value: number): void {
    this.times.push(timestampMs);
    this.values.push(value);
    const cutoff = timestampMs - this.spanMs;
    let drop = 0;
    while (drop < this.times.length && ((this.times[drop] as number) < cutoff || this.times.length - drop > this.maxRows)) drop++;
    // Compact in batches: splicing the head on every push would make each update O(n).
    if (drop > 256 || (drop > 0 && drop * 2 > this.times.length)) {
      this.times = this.times.slice(drop);
      this.values = this.values.slice(drop);
    }
  }

  /** The value of the sample nearest to `target`, if one lies within `toleranceMs`. */
  valueNear(target: number, toleranceMs: number): number | undefined {
    const { times } = this;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((times[mid] as number) < target) lo = mid + 1;
      else hi = mid;
    }
    let best: number | undefined;
    let bestGap = toleranceMs;
    for (const i of [lo - 1, lo]) {
      const t = times[i];
      if (t === undefined) continue;
      const gap = Math.abs(t - target);
      if (gap <= bestGap) {
        bestGap = gap;
        best = this.values[i];
      }
    }
    return best;
  }
}
