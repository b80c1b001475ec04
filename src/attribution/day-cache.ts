import type { Micros } from '../money/money.ts';
import type { AttributionResult } from './types.ts';

/**
 * Results of whole, past UTC days, so month-scale attribution (GET /v1/attribution, the cost
 * gauge's job every 5 minutes) prices only the days whose inputs changed instead of every row of
 * the month each time. Exact, not approximate: the engine shares idle and overhead per hour, so
 * a month's result is the merge of its days' results (merge-results.ts), and a day that has ended
 * no longer depends on the clock (its overhead hours have all started).
 *
 * A day is reused only under the same fingerprint of its rollup rows (`dayFingerprintsQuery`) and
 * the same prices and plans it was priced with; anything else prices it again. Bounded to
 * `maxDays` days (least recently used go first): at 2,000 active tenants a day is a few MB.
 */

export interface DayAttribution {
  result: AttributionResult;
  /** List revenue per tenant × model (rounded per row, so days add up exactly). */
  revenue: ReadonlyMap<string, ReadonlyMap<string, Micros>>;
  requests: ReadonlyMap<string, bigint>;
}

export interface AttributionCache {
  get(dayStart: number, fingerprint: string, pricedWith: object): DayAttribution | undefined;
  set(dayStart: number, fingerprint: string, pricedWith: object, day: DayAttribution): void;
  /** Days held (for tests and metrics). */
  size(): number;
}

/** Two months of days: this month and the last, which is what dashboards and month close read. */
export const DEFAULT_CACHED_DAYS = 62;

export function createAttributionCache(maxDays = DEFAULT_CACHED_DAYS): AttributionCache {
  const days = new Map<number, { fingerprint: string; pricedWith: object; day: DayAttribution }>();
  return {
    get(dayStart, fingerprint, pricedWith) {
      const entry = days.get(dayStart);
      if (!entry || entry.fingerprint !== fingerprint || entry.pricedWith !== pricedWith) return undefined;
      days.delete(dayStart); // re-insert: Map order is the recency order
      days.set(dayStart, entry);
      return entry.day;
    },
    set(dayStart, fingerprint, pricedWith, day) {
      days.delete(dayStart);
      days.set(dayStart, { fingerprint, pricedWith, day });
      while (days.size > maxDays) days.delete(days.keys().next().value!);
    },
    size: () => days.size,
  };
}
