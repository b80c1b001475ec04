import type { QuotaKind } from './config.ts';

/**
 * Quota windows (pure; `now` is always passed in). Windows are fixed and aligned to UTC, not
 * sliding: every replica and the authority agree on the window of an instant without talking,
 * and a tenant can read when its budget comes back. Concurrency is a gauge and has no window.
 */

export interface QuotaWindow {
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive: when the quota resets. */
  end: number;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export function minuteWindow(now: number): QuotaWindow {
  const start = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  return { start, end: start + MINUTE_MS };
}

export function dayWindow(now: number): QuotaWindow {
  const start = Math.floor(now / DAY_MS) * DAY_MS;
  return { start, end: start + DAY_MS };
}

/** The UTC calendar month holding `now` (28 to 31 days). */
export function monthWindow(now: number): QuotaWindow {
  const d = new Date(now);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return { start, end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** The window a quota of `kind` counts in at `now`; undefined for the concurrency gauge. */
export function windowOf(kind: QuotaKind, now: number): QuotaWindow | undefined {
  switch (kind) {
    case 'requests_per_minute':
      return minuteWindow(now);
    case 'tokens_per_day':
      return dayWindow(now);
    case 'cpu_seconds_per_month':
    case 'gpu_seconds_per_month':
    case 'spend_per_month':
      return monthWindow(now);
    case 'concurrent_requests':
      return undefined;
  }
}

/** Whole seconds until `end`, at least 1: a Retry-After of 0 would invite an immediate retry storm. */
export function retryAfterSeconds(end: number, now: number): number {
  return Math.max(1, Math.ceil((end - now) / 1000));
}

/** 'YYYY-MM' of the UTC month holding `instant` (the statement period of that month). */
export function periodOf(instant: number): string {
  const d = new Date(instant);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** How a limit reads to a person: "per minute", "per UTC day", ... */
export function windowPhrase(kind: QuotaKind): string {
  switch (kind) {
    case 'requests_per_minute':
      return 'per minute';
    case 'tokens_per_day':
      return 'per UTC day';
    case 'concurrent_requests':
      return 'at once';
    default:
      return 'per UTC month';
  }
}
