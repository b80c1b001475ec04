/**
 * A fixed-capacity window over the last `capacity` numbers that keeps a sorted copy, so order
 * statistics (median, rank of a value) cost O(log n) to query and O(n) to update. The windows
 * used by the detector hold a few hundred values, where a sorted array beats a tree in practice.
 */
export class RollingWindow {
  private readonly ring: number[] = [];
  private readonly sorted: number[] = [];
  private next = 0;
  /**
   * Σ values, kept as values come and go (compensated, Neumaier), so `mean` is O(1): the detector
   * asks for means at every point of every series, and summing the window each time was most of
   * an anomaly scan. Summed afresh every `capacity` pushes so rounding cannot drift.
   */
  private sum = 0;
  private compensation = 0;
  private pushesSinceExactSum = 0;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.sorted.length;
  }

  get isFull(): boolean {
    return this.ring.length === this.capacity;
  }

  push(value: number): void {
    if (this.ring.length === this.capacity) {
      const old = this.ring[this.next] as number;
      this.sorted.splice(lowerBound(this.sorted, old), 1);
      this.ring[this.next] = value;
      this.next = (this.next + 1) % this.capacity;
      this.add(-old);
    } else {
      this.ring.push(value);
    }
    this.sorted.splice(lowerBound(this.sorted, value), 0, value);
    this.add(value);
    if (++this.pushesSinceExactSum >= this.capacity) {
      this.pushesSinceExactSum = 0;
      this.sum = 0;
      this.compensation = 0;
      for (const v of this.sorted) this.add(v);
    }
  }

  private add(v: number): void {
    const t = this.sum + v;
    this.compensation += Math.abs(this.sum) >= Math.abs(v) ? this.sum - t + v : v - t + this.sum;
    this.sum = t;
  }

  /** The most recent `k` values, oldest first (fewer when the window holds fewer). */
  recent(k: number): number[] {
    const n = this.ring.length;
    // Until the ring first fills, it is in insertion order; afterwards the oldest sits at `next`.
    const start = n < this.capacity ? 0 : this.next;
    const out: number[] = [];
    for (let i = Math.max(0, n - k); i < n; i++) out.push(this.ring[(start + i) % n] as number);
    return out;
  }

  median(): number {
    return medianOfSorted(this.sorted);
  }

  max(): number {
    return this.sorted.length ? (this.sorted[this.sorted.length - 1] as number) : Number.NaN;
  }

  mean(): number {
    return this.sorted.length ? (this.sum + this.compensation) / this.sorted.length : Number.NaN;
  }

  /** How many values in the window are ≥ `value`. */
  countAtLeast(value: number): number {
    return this.sorted.length - lowerBound(this.sorted, value);
  }
}

/** First index whose element is ≥ value (NaN-free input assumed: callers only push finite numbers). */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function medianOfSorted(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const mid = n >>> 1;
  return n % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function median(values: readonly number[]): number {
  return medianOfSorted([...values].sort((a, b) => a - b));
}
