import type { Micros } from '../money/money.ts';
import type { AttributionResult, TenantHours } from './types.ts';

/**
 * Values computed for whole, past UTC days, reused while the day's inputs are the same, so
 * month-scale work (GET /v1/attribution and the cost gauge's job every 5 minutes; the anomaly
 * scan's 28 days of hourly costs) prices only the days whose inputs changed instead of every row
 * each time. Exact, not approximate: the engine shares idle and overhead per hour, so a range's
 * result is the merge of its days' results (merge-results.ts), and a day that has ended no
 * longer depends on the clock (its overhead hours have all started).
 *
 * The fingerprint (see `perUtcDay` in cost-service.ts) covers the day's rollup rows and the
 * prices and plans it was priced with; anything else computes the day again. The hours of today
 * that have ended are kept the same way, keyed by the hour's start (their fingerprints say they
 * are hours). Bounded to `maxDays` entries (least recently used go first).
 */
export interface DayCache<T> {
  /** `start`: the piece's first instant (a UTC midnight, or an hour's start). */
  get(start: number, fingerprint: string): T | undefined;
  set(start: number, fingerprint: string, value: T): void;
  /** Days held (for tests and metrics). */
  size(): number;
}

export function createDayCache<T>(maxDays: number): DayCache<T> {
  const days = new Map<number, { fingerprint: string; value: T }>();
  return {
    get(start, fingerprint) {
      const entry = days.get(start);
      if (!entry || entry.fingerprint !== fingerprint) return undefined;
      days.delete(start); // re-insert: Map order is the recency order
      days.set(start, entry);
      return entry.value;
    },
    set(start, fingerprint, value) {
      days.delete(start);
      days.set(start, { fingerprint, value });
      while (days.size > maxDays) days.delete(days.keys().next().value!);
    },
    size: () => days.size,
  };
}

/** A day's attribution with what the reports add: list revenue and requests per tenant. */
export interface DayAttribution {
  result: AttributionResult;
  /** List revenue per tenant × model (rounded per row, so days add up exactly). */
  revenue: ReadonlyMap<string, ReadonlyMap<string, Micros>>;
  requests: ReadonlyMap<string, bigint>;
  /** Each tenant's cost per hour of the day: a tenant's cost series is summed from these. */
  tenantHours: TenantHours;
}

export type AttributionCache = DayCache<DayAttribution>;

/**
 * Two months of days, this month and the last, which is what dashboards and month close read,
 * and the hours of two partial days (today, a range's first day). At 2,000 active tenants a day
 * is a few MB (the hourly figures are 576 bytes per tenant and day), an hour a 24th of that.
 */
export const DEFAULT_CACHED_DAYS = 62 + 48;

export const createAttributionCache = (maxDays = DEFAULT_CACHED_DAYS): AttributionCache => createDayCache<DayAttribution>(maxDays);
