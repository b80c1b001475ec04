import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { median, RollingWindow } from './rolling-window.ts';

/** The last `capacity` of `values`, as the window should hold them. */
const lastOf = (values: readonly number[], capacity: number) => values.slice(Math.max(0, values.length - capacity));

describe('RollingWindow', () => {
  it('keeps the last `capacity` values: recent, median, max and countAtLeast as over a plain array', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 60 }), (capacity, values) => {
        const w = new RollingWindow(capacity);
        values.forEach((v) => w.push(v));
        const held = lastOf(values, capacity);
        expect(w.size).toBe(held.length);
        expect(w.recent(capacity)).toEqual(held);
        expect(w.recent(3)).toEqual(held.slice(-3));
        if (held.length) {
          expect(w.median()).toBe(median(held));
          expect(w.max()).toBe(Math.max(...held));
          expect(w.countAtLeast(0)).toBe(held.filter((v) => v >= 0).length);
        } else {
          expect(w.median()).toBeNaN();
          expect(w.mean()).toBeNaN();
        }
      }),
    );
  });

  it('keeps its mean exact to rounding as values of every magnitude come and go', () => {
    const value = fc.oneof(fc.double({ min: -1e12, max: 1e12, noNaN: true }), fc.double({ min: -1e-6, max: 1e-6, noNaN: true }), fc.integer({ min: -5, max: 5 }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(value, { maxLength: 300 }), (capacity, values) => {
        const w = new RollingWindow(capacity);
        values.forEach((v, i) => {
          w.push(v);
          const held = lastOf(values.slice(0, i + 1), capacity);
          const exact = held.reduce((a, x) => a + x, 0) / held.length;
          const scale = held.reduce((a, x) => a + Math.abs(x), 0) / held.length;
          expect(Math.abs(w.mean() - exact)).toBeLessThanOrEqual(1e-12 * scale);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('does not carry a value it dropped long ago (a huge value gone leaves no trace in the mean)', () => {
    const w = new RollingWindow(3);
    for (const v of [1e300, 1, 2, 3]) w.push(v);
    expect(w.mean()).toBe(2);
  });
});
