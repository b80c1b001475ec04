import { seededRandom } from '../seeded-random.ts';

/**
 * Pure measurement helpers: no clocks, no I/O. Percentiles use the nearest-rank method on a
 * sorted copy, so p99 of 100 samples is the 99th smallest, and p100 is the maximum.
 */

export function percentile(samples: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be in [0, 100], got ${p}`);
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export interface LatencySummary {
  count: number;
  p50: number | null;
  p99: number | null;
  mean: number | null;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const mean = samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : null;
  return { count: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), mean };
}

/** value / baseline, or null when either is missing or the baseline is 0. */
export function ratioOf(value: number | null | undefined, baseline: number | null | undefined): number | null {
  if (value === null || value === undefined || baseline === null || baseline === undefined) return null;
  if (baseline === 0 || !Number.isFinite(value) || !Number.isFinite(baseline)) return null;
  return value / baseline;
}

/** Items per second for `count` items in `ms` milliseconds (null for an empty or instant run). */
export function perSecond(count: number, ms: number): number | null {
  return ms > 0 && count > 0 ? (count * 1000) / ms : null;
}

export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rnd = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
