import type { RollingWindow } from './rolling-window.ts';

/**
 * Empirical right-tail probability of `value` against the window's history: the share of past
 * values at least as large (with the +1 that keeps it a valid p-value). Beyond the largest past
 * value the tail is extrapolated exponentially, in units of the history's typical size, so a
 * value far beyond anything seen keeps getting more surprising instead of saturating.
 * `floor` is the smallest scale allowed: for a constant history the typical size is 0, and any
 * departure must then count as extreme rather than divide by zero.
 */
export function tailProbability(history: RollingWindow, value: number, floor: number): number {
  const n = history.size;
  if (n === 0) return 1;
  const max = history.max();
  if (value <= max) return (history.countAtLeast(value) + 1) / (n + 1);
  const scale = Math.max(history.median(), history.mean(), floor);
  return Math.exp(-(value - max) / scale) / (n + 1);
}

/**
 * Maps a p-value to [0, 1] through its surprise −ln p, relative to `reference` = −ln p of "the
 * largest value in a full history": 0.5 means exactly that surprising, → 1 for far beyond it.
 * A fixed map keeps scores comparable across series, which a corpus-wide threshold needs.
 */
export function scoreOf(p: number, reference: number): number {
  const surprise = -Math.log(Math.min(1, Math.max(p, Number.MIN_VALUE)));
  const score = surprise / (surprise + reference);
  return Number.isFinite(score) ? Math.min(1, Math.max(0, score)) : 0;
}
