/**
 * Minimum and maximum of the values of the last `spanMs` (by timestamp), in O(1) amortised per
 * sample: two monotonic queues, the classic sliding-window extremum. Kept by time, like the
 * seasonal history, so irregular sampling and gaps do not change what "the last three weeks" is.
 */
export class RollingRange {
  private readonly lows = new MonotonicQueue((a, b) => a <= b);
  private readonly highs = new MonotonicQueue((a, b) => a >= b);

  constructor(private readonly spanMs: number) {}

  push(timestampMs: number, value: number): void {
    const cutoff = timestampMs - this.spanMs;
    this.lows.push(timestampMs, value, cutoff);
    this.highs.push(timestampMs, value, cutoff);
  }

  /** max − min of the window; 0 before any sample. */
  span(): number {
    const lo = this.lows.front();
    const hi = this.highs.front();
    return lo === undefined || hi === undefined ? 0 : hi - lo;
  }
}

/** Values whose `keeps(front, back)` order holds from front to back; the front is the window's extremum. */
class MonotonicQueue {
  private times: number[] = [];
  private values: number[] = [];
  private head = 0;

  constructor(private readonly keeps: (earlier: number, later: number) => boolean) {}

  push(timestampMs: number, value: number, cutoff: number): void {
    // A later value at least as extreme makes every earlier, less extreme one irrelevant forever.
    while (this.values.length > this.head && !this.keeps(this.values[this.values.length - 1] as number, value)) {
      this.values.pop();
      this.times.pop();
    }
    this.times.push(timestampMs);
    this.values.push(value);
    while ((this.times[this.head] as number) < cutoff) this.head++;
    // Compact in batches, as TimeHistory does: shifting the head on every push would be O(n).
    if (this.head > 256 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
  }

  front(): number | undefined {
    return this.head < this.values.length ? this.values[this.head] : undefined;
  }
}
