import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RollingRange } from './rolling-range.ts';

describe('RollingRange', () => {
  it('is 0 before any sample and for a single one', () => {
    const range = new RollingRange(1000);
    expect(range.span()).toBe(0);
    range.push(0, 5);
    expect(range.span()).toBe(0);
  });

  it('equals max − min of the samples of the last spanMs, whatever the order of values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 50 }), value: fc.integer({ min: -1000, max: 1000 }) }), { minLength: 1, maxLength: 2000 }),
        fc.integer({ min: 0, max: 500 }),
        (rows, spanMs) => {
          const range = new RollingRange(spanMs);
          const seen: Array<{ t: number; v: number }> = [];
          let t = 0;
          for (const row of rows) {
            t += row.gap;
            range.push(t, row.value);
            seen.push({ t, v: row.value });
            const inWindow = seen.filter((s) => s.t >= t - spanMs).map((s) => s.v);
            expect(range.span()).toBe(Math.max(...inWindow) - Math.min(...inWindow));
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});
