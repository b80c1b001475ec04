import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors.ts';
import { appendAttributionUsageRows, type AttributionUsageRow } from './costs.ts';

const H = 3_600_000;
const DAY = { from: 1_700_006_400_000, to: 1_700_006_400_000 + 24 * H };

/** One row of attributionUsageQuery as JSONCompactEachRow gives it: 64-bit counters quoted. */
const grouped = (hours: unknown[], over: Partial<Record<number, unknown>> = {}): unknown[] => {
  const row: unknown[] = ['acme', 'i-1', 'm', 'v1', hours, hours.map(() => '3'), hours.map(() => '64'), hours.map(() => '10'), hours.map((h) => String(1000 + Number(h))), hours.map(() => '0')];
  for (const [i, v] of Object.entries(over)) row[Number(i)] = v;
  return row;
};

function rowsOf(raw: unknown): AttributionUsageRow[] {
  const out: AttributionUsageRow[] = [];
  appendAttributionUsageRows(out, raw, 7, DAY);
  return out;
}

describe('appendAttributionUsageRows', () => {
  it('turns a tenant × instance × variant row into one row per hour, at its hour of the span', () => {
    const rows = rowsOf(grouped(['23', '0', '5']));
    expect(rows.map((r) => r.hour)).toEqual([DAY.from + 23 * H, DAY.from, DAY.from + 5 * H]);
    expect(rows[0]).toEqual({
      tenantId: 'acme',
      instanceId: 'i-1',
      hour: DAY.from + 23 * H,
      model: 'm',
      modelVariant: 'v1',
      requests: 3n,
      inputTokens: 64n,
      outputTokens: 10n,
      cpuUs: 1023n,
      gpuUs: 0n,
    });
  });

  it('keeps 64-bit counters exact', () => {
    const [row] = rowsOf(grouped([1], { 8: ['18446744073709551615'] }));
    expect(row!.cpuUs).toBe(18_446_744_073_709_551_615n);
  });

  it.each([
    ['an hour outside the span', grouped([24]), /hour index 24 is outside the 24 hours/],
    ['a negative hour', grouped([-1]), /hour index -1/],
    ['arrays of different lengths', grouped([1, 2], { 9: ['0'] }), /different lengths/],
    ['a missing column', ['acme', 'i-1'], /expected 10 columns/],
    ['a number for a name', grouped([1], { 0: 42 }), /expected a string/],
    ['a counter that is not an integer', grouped([1], { 5: ['x'] }), /SyntaxError|Cannot convert/],
    ['a scalar for an hour list', grouped([1], { 4: '1' }), /expected an array/],
  ])('refuses %s, naming the row', (_, raw, message) => {
    const out: AttributionUsageRow[] = [];
    let error: unknown;
    try {
      appendAttributionUsageRows(out, raw, 7, DAY);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as Error).message).toMatch(/^unexpected row 7 from ClickHouse: /);
    expect((error as Error).message).toMatch(message);
  });
});
