import { describe, expect, it } from 'vitest';
import { dayWindow, minuteWindow, monthWindow, periodOf, retryAfterSeconds, windowOf } from './windows.ts';

const at = (iso: string) => Date.parse(iso);

describe('quota windows (fixed, UTC-aligned)', () => {
  it.each([
    ['2026-03-14T09:26:53.589Z', '2026-03-14T09:26:00.000Z', '2026-03-14T09:27:00.000Z'],
    ['2026-03-14T09:26:00.000Z', '2026-03-14T09:26:00.000Z', '2026-03-14T09:27:00.000Z'],
    ['2026-03-14T09:26:59.999Z', '2026-03-14T09:26:00.000Z', '2026-03-14T09:27:00.000Z'],
    ['2026-12-31T23:59:30.000Z', '2026-12-31T23:59:00.000Z', '2027-01-01T00:00:00.000Z'],
  ])('minute of %s is [%s, %s)', (now, start, end) => {
    expect(minuteWindow(at(now))).toEqual({ start: at(start), end: at(end) });
  });

  it.each([
    ['2026-03-14T09:26:53Z', '2026-03-14T00:00:00Z', '2026-03-15T00:00:00Z'],
    ['2026-03-14T00:00:00Z', '2026-03-14T00:00:00Z', '2026-03-15T00:00:00Z'],
    ['2026-03-14T23:59:59.999Z', '2026-03-14T00:00:00Z', '2026-03-15T00:00:00Z'],
  ])('UTC day of %s is [%s, %s)', (now, start, end) => {
    expect(dayWindow(at(now))).toEqual({ start: at(start), end: at(end) });
  });

  it.each([
    ['2026-03-14T09:26:53Z', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z'],
    ['2026-12-31T23:59:59.999Z', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z'],
    ['2028-02-29T12:00:00Z', '2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z'],
    ['2026-02-01T00:00:00Z', '2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z'],
  ])('UTC month of %s is [%s, %s)', (now, start, end) => {
    expect(monthWindow(at(now))).toEqual({ start: at(start), end: at(end) });
  });

  it.each([
    ['requests_per_minute', 60_000],
    ['tokens_per_day', 86_400_000],
    ['cpu_seconds_per_month', 31 * 86_400_000],
    ['gpu_seconds_per_month', 31 * 86_400_000],
    ['spend_per_month', 31 * 86_400_000],
  ] as const)('%s counts in a window of %d ms (in March)', (kind, length) => {
    const w = windowOf(kind, at('2026-03-14T09:26:53Z'))!;
    expect(w.end - w.start).toBe(length);
  });

  it('concurrency is a gauge: no window', () => {
    expect(windowOf('concurrent_requests', at('2026-03-14T09:26:53Z'))).toBeUndefined();
  });

  it.each([
    [60_000, 0, 60],
    [60_000, 59_000, 1],
    [60_000, 59_999, 1],
    [60_000, 59_001, 1],
    [60_000, 58_999, 2],
    [60_000, 60_000, 1],
    [60_000, 70_000, 1],
  ])('Retry-After to a window ending at %d, at %d, is %d s (never below 1)', (end, now, seconds) => {
    expect(retryAfterSeconds(end, now)).toBe(seconds);
  });

  it.each([
    ['2026-03-14T09:26:53Z', '2026-03'],
    ['2026-12-31T23:59:59Z', '2026-12'],
    ['2027-01-01T00:00:00Z', '2027-01'],
  ])('the statement period of %s is %s', (now, period) => {
    expect(periodOf(at(now))).toBe(period);
  });
});
