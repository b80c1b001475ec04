import { createDetector } from '../anomalies/index.ts';

/**
 * Pure helpers of the anomaly scan: hourly series per tenant and metric, scored by the streaming
 * detector (causal: the latest hour's score uses that hour and earlier ones only), with an
 * expected value that an on-call engineer can check by hand.
 */

export const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Hourly points from `from` (inclusive) to `to` (exclusive); missing hours take `fill`. */
export function fillHours(values: ReadonlyMap<number, number>, from: number, to: number, fill: number): number[] {
  const out: number[] = [];
  for (let h = from; h < to; h += HOUR_MS) out.push(values.get(h) ?? fill);
  return out;
}

/** The detector's score of the last point of an hourly series starting at `from`. */
export function scoreLatest(series: readonly number[], from: number): number {
  const detector = createDetector();
  let score = 0;
  series.forEach((value, i) => {
    score = detector.update(from + i * HOUR_MS, value);
  });
  return score;
}

function median(values: number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return 0;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

/**
 * What the latest hour "should" have been: the median of the same hour of day over the previous
 * 7 days when there are at least 3 of them, else the median of the previous 24 hours. Simple
 * enough to verify on a dashboard, which is what an alert's "expected" is for.
 */
export function expectedLatest(series: readonly number[]): number {
  const last = series.length - 1;
  if (last < 1) return 0;
  const sameHour: number[] = [];
  for (let d = 1; d <= 7; d++) {
    const i = last - (d * DAY_MS) / HOUR_MS;
    if (i >= 0 && Number.isFinite(series[i]!)) sameHour.push(series[i]!);
  }
  if (sameHour.length >= 3) return median(sameHour);
  return median(series.slice(Math.max(0, last - 24), last));
}
