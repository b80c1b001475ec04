import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apportion, type Share } from './apportion.ts';

const weightArb = fc.oneof(
  fc.integer({ min: 1, max: 2 ** 40 }),
  fc.double({ min: 0, max: 1e9, minExcluded: true, noNaN: true, noDefaultInfinity: true }),
);
const sharesArb = fc.uniqueArray(fc.record({ id: fc.string({ maxLength: 4 }), weight: weightArb }), {
  minLength: 1,
  maxLength: 12,
  selector: (s) => s.id,
});
const totalArb = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('apportion', () => {
  it.each<[string, number, Share[], Record<string, number>]>([
    ['equal weights, remainder to lowest ids', 10, [{ id: 'c', weight: 1 }, { id: 'a', weight: 1 }, { id: 'b', weight: 1 }], { a: 4, b: 3, c: 3 }],
    ['proportional, exact', 100, [{ id: 'x', weight: 3 }, { id: 'y', weight: 1 }], { x: 75, y: 25 }],
    ['largest remainder wins over id', 10, [{ id: 'a', weight: 1 }, { id: 'b', weight: 2 }], { a: 3, b: 7 }],
    ['single share takes all', 7, [{ id: 'only', weight: 0.001 }], { only: 7 }],
    ['zero total gives zeros', 0, [{ id: 'a', weight: 5 }, { id: 'b', weight: 1 }], { a: 0, b: 0 }],
    ['tiny vs huge weight', 1, [{ id: 'a', weight: 5e-324 }, { id: 'b', weight: 1e300 }], { a: 0, b: 1 }],
    ['fractional weights', 3, [{ id: 'a', weight: 0.1 }, { id: 'b', weight: 0.2 }], { a: 1, b: 2 }],
  ])('%s', (_name, total, shares, expected) => {
    expect(Object.fromEntries(apportion(total, shares))).toEqual(expected);
  });

  it.each<[string, number, Share[], RegExp]>([
    ['negative total', -1, [{ id: 'a', weight: 1 }], /non-negative safe integer/],
    ['fractional total', 1.5, [{ id: 'a', weight: 1 }], /non-negative safe integer/],
    ['zero weight', 1, [{ id: 'a', weight: 0 }], /weight of 'a' must be a finite number > 0/],
    ['infinite weight', 1, [{ id: 'a', weight: Infinity }], /finite number > 0/],
    ['duplicate id', 1, [{ id: 'a', weight: 1 }, { id: 'a', weight: 1 }], /duplicate id 'a'/],
    ['nothing to split into', 5, [], /among no shares/],
  ])('rejects %s', (_name, total, shares, message) => {
    expect(() => apportion(total, shares)).toThrow(message);
  });

  it('conserves the total, stays within one unit of the exact quota, and ignores input order', () => {
    fc.assert(
      fc.property(totalArb, sharesArb, fc.nat(), (total, shares, seed) => {
        const parts = apportion(total, shares);
        expect(sum(parts)).toBe(total);
        const weightSum = shares.reduce((a, s) => a + s.weight, 0);
        for (const s of shares) {
          const part = parts.get(s.id)!;
          expect(Number.isSafeInteger(part) && part >= 0).toBe(true);
          // Float check with slack: the exact bound is |part − quota| < 1.
          const quota = (total * s.weight) / weightSum;
          expect(Math.abs(part - quota)).toBeLessThanOrEqual(1 + quota * 1e-9);
        }
        const rotated = [...shares.slice(seed % shares.length), ...shares.slice(0, seed % shares.length)].reverse();
        expect(apportion(total, rotated)).toEqual(parts);
      }),
      { numRuns: 500 },
    );
  });
});
