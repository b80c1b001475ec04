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

  it.each([
    [{ from: 10, to: 10 }, 'invalid_range'],
    [{ from: 0, to: 86_400_000, step: 1 }, 'invalid_step'],
  ])('rejects %j', (input, code) => {
    expect(() => resolveRange(input, 0)).toThrow(expect.objectContaining({ code }));
  });
});
