import { describe, expect, it } from 'vitest';
import { engineOnly, previousMonth, REQUESTS_PER_TENANT, syntheticLayout, usageRowsInsert } from './queries-data.ts';

const OCT = { start: Date.UTC(2026, 9, 1), end: Date.UTC(2026, 10, 1) };

describe('syntheticLayout', () => {
  it.each([
    [1, 1, 744 * 6],
    [1_000_000, 20, 20 * 744 * 6],
    [10_000_000, 200, 200 * 744 * 6],
    [REQUESTS_PER_TENANT + 1, 2, 2 * 744 * 6],
  ])('%d requests in October: %d tenants, %d usage rows', (requests, tenants, rows) => {
    const l = syntheticLayout(requests, OCT.start, OCT.end);
    expect(l).toMatchObject({ requests, tenants, hours: 744, rowsPerTenant: 744 * 6, usageRows: rows, capacityRows: 744 * 2 });
  });

  it('refuses a non-positive or fractional request count', () => {
    expect(() => syntheticLayout(0, OCT.start, OCT.end)).toThrow(RangeError);
    expect(() => syntheticLayout(1.5, OCT.start, OCT.end)).toThrow(RangeError);
  });
});

describe('previousMonth', () => {
  it.each([
    [Date.UTC(2026, 10, 27, 21), '2026-10', OCT.start, OCT.end],
    [Date.UTC(2026, 0, 1, 0, 0, 0, 1), '2025-12', Date.UTC(2025, 11, 1), Date.UTC(2026, 0, 1)],
    [Date.UTC(2024, 2, 1), '2024-02', Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1)],
  ])('before %d is %s', (now, period, start, end) => {
    expect(previousMonth(now)).toEqual({ period, start, end });
  });
});

describe('SQL builders', () => {
  it('binds every value as a parameter', () => {
    const l = syntheticLayout(1_000_000, OCT.start, OCT.end);
    const q = usageRowsInsert(l, OCT.start);
    expect(q.query).not.toContain('1000000');
    expect(q.query).toContain('FROM numbers({total:UInt64})');
    expect(q.params).toMatchObject({ n: 1_000_000, total: l.usageRows, per_tenant: l.rowsPerTenant, start: OCT.start });
  });

  it('engineOnly counts the same SELECT in the engine', () => {
    expect(engineOnly({ query: 'SELECT 1 WHERE x = {x:Int64}', params: { x: 1 } })).toEqual({
      query: 'SELECT count() AS n FROM (SELECT 1 WHERE x = {x:Int64})',
      params: { x: 1 },
    });
  });
});
