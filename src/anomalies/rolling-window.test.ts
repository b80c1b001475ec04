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

  it('keeps its mean exact to rounding of the values it held since its last exact re-sum', () => {
    // The running sum's rounding error is relative to the values added and removed since it was
    // last summed afresh (at most 2 × capacity pushes ago), not to the values held now: after 1e-73
    // leaves, a window of 3e-300 may read 0. A detector window never needs more than that.
    const value = fc.oneof(fc.double({ min: -1e12, max: 1e12, noNaN: true }), fc.double({ min: -1e-6, max: 1e-6, noNaN: true }), fc.integer({ min: -5, max: 5 }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(value, { maxLength: 300 }), (capacity, values) => {
        const w = new RollingWindow(capacity);
        values.forEach((v, i) => {
          w.push(v);
          const held = lastOf(values.slice(0, i + 1), capacity);
          const exact = held.reduce((a, x) => a + x, 0) / held.length;
          const seen = lastOf(values.slice(0, i + 1), 2 * capacity);
          const scale = Math.max(...seen.map(Math.abs));
          expect(Math.abs(w.mean() - exact)).toBeLessThanOrEqual(Math.max(1e-12 * scale, 1e-300));
        });
      }),
      { numRuns: 200 },
    );
  });

  it('reads 0 once a spike has left a window of zeros (values that cancel leave no trace)', () => {
    for (const spike of [1e6 + 0.1, 123456.789, 3.3333333333e9, 0.1 + 0.2]) {
      const w = new RollingWindow(4);
      for (const v of [0.7, spike, 0.30000000000000004, 1e-3, 0, 0, 0, 0, 0]) w.push(v);
      expect(w.mean(), String(spike)).toBe(0);
    }
  });

  it('does not carry a value it dropped long ago (a huge value gone leaves no trace in the mean)', () => {
    const w = new RollingWindow(3);
    for (const v of [1e300, 1, 2, 3]) w.push(v);
    expect(w.mean()).toBe(2);
  });
});
