import { describe, expect, it } from 'vitest';
import { instantParam, resolveRange, stepParam } from './time-params.ts';

describe('time params', () => {
  it.each([
    ['1700000000000', 1_700_000_000_000],
    ['2023-11-14T22:13:20Z', 1_700_000_000_000],
    ['2023-11-14T23:13:20+01:00', 1_700_000_000_000],
  ])('parses instant %s', (text, ms) => {
    expect(instantParam.parse(text)).toBe(ms);
  });

  it.each(['yesterday', '2023-13-45T00:00:00Z', '2024-02-30T00:00:00Z', '2024-01-01T00:00:00', '2024-01-01', '', '-5'])('rejects instant %j', (text) => {
    expect(instantParam.safeParse(text).success).toBe(false);
  });

  // ClickHouse refused such instants (a 503 for the caller's mistake), and a range of centuries
  // priced day by day ran the process out of memory.
  it.each(['8640000000000000', '99999999999999999', '4102444800001', '2100-01-01T00:00:01Z', '1969-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '9999-12-31T00:00:00Z'])(
    'refuses instant %j as out of range',
    (text) => {
      const parsed = instantParam.safeParse(text);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toBe(`"${text}" is out of range: instants are from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z`);
    },
  );

  it.each([
    ['0', 0],
    ['2100-01-01T00:00:00Z', Date.UTC(2100, 0, 1)],
  ])('accepts the bound %j', (text, ms) => expect(instantParam.parse(text)).toBe(ms));

  it.each([
    ['60', 60],
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    ['1d', 86400],
  ])('parses step %s', (text, s) => expect(stepParam.parse(text)).toBe(s));

  it.each(['1w', '1.5h', 'h'])('rejects step %j', (text) => expect(stepParam.safeParse(text).success).toBe(false));

  it('defaults to the last 24 hours with an automatic step', () => {
    expect(resolveRange({}, 100_000_000)).toEqual({ range: { from: 100_000_000 - 86_400_000, to: 100_000_000 }, stepSeconds: 300 });
  });

  it('a default `from` never reaches before 1970 (found by fuzzing: `to=0` answered with a 1969 `from`)', () => {
    expect(resolveRange({ to: 9_999_999 }, 0).range).toEqual({ from: 0, to: 9_999_999 });
    expect(() => resolveRange({ to: 0 }, 0)).toThrow(expect.objectContaining({ code: 'invalid_range' }));
  });

  it.each([
    [{ from: 10, to: 10 }, 'invalid_range'],
    [{ from: 0, to: 86_400_000, step: 1 }, 'invalid_step'],
  ])('rejects %j', (input, code) => {
    expect(() => resolveRange(input, 0)).toThrow(expect.objectContaining({ code }));
  });

  it('says what is wrong when a series would have too many points', () => {
    expect(() => resolveRange({ from: 0, to: 86_400_000, step: 1 }, 0)).toThrow('`step` too small: 86400 points in the range, at most 10000');
    // No step given: the automatic one is daily at most, so it is the range that is too long.
    expect(() => resolveRange({ from: 0, to: 30 * 365 * 86_400_000 }, 0)).toThrow(
      'the range is too long for a series at daily points (10950, at most 10000): ask for a shorter range or a larger `step`',
    );
    expect(resolveRange({ from: 0, to: 30 * 365 * 86_400_000, step: 7 * 86_400 }, 0).stepSeconds).toBe(7 * 86_400);
  });

  it('without a series, never refuses a range for its points', () => {
    expect(resolveRange({ from: 0, to: 30 * 365 * 86_400_000 }, 0, { series: false }).range).toEqual({ from: 0, to: 30 * 365 * 86_400_000 });
  });

  it('refuses a range longer than the limit, and takes one exactly at it', () => {
    const limit = 400 * 86_400_000;
    expect(resolveRange({ from: 0, to: limit }, 0, { maxRangeMs: limit }).range).toEqual({ from: 0, to: limit });
    expect(() => resolveRange({ from: 0, to: limit + 3_600_000 }, 0, { maxRangeMs: limit })).toThrow(
      expect.objectContaining({ code: 'range_too_long', message: 'the range spans 400.04166667 days, at most 400 days per request: ask for consecutive ranges (their amounts add up exactly)' }),
    );
    // Found by hand: one second over the limit read "spans 400 days, at most 400 days".
    expect(() => resolveRange({ from: 0, to: limit + 1000 }, 0, { maxRangeMs: limit })).toThrow('the range spans 400.00001157 days, at most 400 days');
  });

  it('with a step multiple (costs: whole hours), refuses another step and picks an automatic one that is a multiple', () => {
    const hourly = { stepMultipleS: 3600 };
    expect(() => resolveRange({ from: 0, to: 86_400_000, step: 300 }, 0, hourly)).toThrow(
      expect.objectContaining({ code: 'invalid_step', message: '`step` must be a whole number of hours (costs are priced per hour): 1h, 6h, 1d, not 300 s' }),
    );
    expect(() => resolveRange({ from: 0, to: 86_400_000, step: 5400 }, 0, hourly)).toThrow(expect.objectContaining({ code: 'invalid_step' }));
    expect(resolveRange({ from: 0, to: 86_400_000, step: 7200 }, 0, hourly).stepSeconds).toBe(7200);
    // Without a step: 300 s would do for a day, but the first hourly one is taken.
    expect(resolveRange({ from: 0, to: 86_400_000 }, 0, hourly).stepSeconds).toBe(3600);
    expect(resolveRange({ from: 0, to: 86_400_000 }, 0).stepSeconds).toBe(300);
  });
});
