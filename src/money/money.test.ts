import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apportion, divRound, formatMoney, formatRate, parseMoney, parseRate } from './money.ts';

describe('money parsing and formatting', () => {
  it.each([
    ['12.345678', 12_345_678n],
    ['0.1', 100_000n],
    ['7', 7_000_000n],
    ['-1.5', -1_500_000n],
    ['0.1000000', 100_000n],
  ])('parseMoney(%s)', (text, micros) => expect(parseMoney(text)).toBe(micros));

  it.each(['1.2345678', '1e3', 'abc', '', '1,5'])('parseMoney rejects %j', (text) => expect(() => parseMoney(text)).toThrow(RangeError));

  it.each([
    [12_345_678n, '12.345678'],
    [0n, '0.000000'],
    [-5n, '-0.000005'],
  ])('formatMoney(%s)', (micros, text) => expect(formatMoney(micros)).toBe(text));

  it('keeps 12 decimals for unit prices', () => {
    expect(parseRate('0.0000025')).toBe(2_500_000n);
    expect(formatRate(parseRate('0.0000025'))).toBe('0.0000025');
    expect(formatRate(parseRate('2'))).toBe('2.00');
  });
});

describe('divRound', () => {
  it.each([
    [5n, 2n, 2n],
    [7n, 2n, 4n],
    [-5n, 2n, -2n],
    [-7n, 2n, -4n],
    [10n, 3n, 3n],
    [11n, 3n, 4n],
  ])('%s / %s = %s (half to even)', (n, d, q) => expect(divRound(n, d)).toBe(q));
});

describe('apportion', () => {
  it('splits exactly with largest remainders, ties to the lower index', () => {
    expect(apportion(10n, [1n, 1n, 1n])).toEqual([4n, 3n, 3n]);
    expect(apportion(100n, [3n, 1n])).toEqual([75n, 25n]);
    expect(apportion(5n, [0n, 0n])).toBeUndefined();
  });

  it('always sums to the total and stays within one unit of the exact share', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.array(fc.bigInt({ min: 0n, max: 10n ** 9n }), { minLength: 1, maxLength: 20 }), (total, weights) => {
        const parts = apportion(total, weights);
        const sum = weights.reduce((a, w) => a + w, 0n);
        if (sum === 0n) return parts === undefined;
        expect(parts!.reduce((a, p) => a + p, 0n)).toBe(total);
        parts!.forEach((p, i) => {
          const exactFloor = (total * weights[i]!) / sum;
          expect(p === exactFloor || p === exactFloor + 1n).toBe(true);
        });
        return true;
      }),
    );
  });
});
