import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DayCosts } from './anomaly-scan.ts';
import { DAY_COSTS_FORMAT_VERSION, decodeDayCosts, encodeDayCosts } from './day-costs-codec.ts';

const D0 = Date.UTC(2026, 9, 1);

const decoded = (text: string): DayCosts => {
  const out = decodeDayCosts(text);
  if ('error' in out) throw new Error(out.error);
  return out.day;
};

describe("the anomaly scan's hourly costs of a day, written for attribution_days and read back", () => {
  it('reads back every cell and hour bit for bit, whatever the values', () => {
    const cell = fc.float64Array({ minLength: 24, maxLength: 24 });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 40 }), cell, { maxKeys: 20 }), (cells) => {
        const day: DayCosts = { from: D0, cells: new Map(Object.entries(cells)) };
        const back = decoded(encodeDayCosts(day));
        expect(back.from).toBe(D0);
        expect([...back.cells.keys()]).toEqual([...day.cells.keys()]);
        // Bytes, not numbers: NaN, -0 and subnormals must come back as they were.
        for (const [key, values] of day.cells) expect(Buffer.from(back.cells.get(key)!.buffer)).toEqual(Buffer.from(values.buffer));
      }),
      { numRuns: 100 },
    );
  });

  it('reads back a day with no cells (no tenant had usage)', () => {
    expect(decoded(encodeDayCosts({ from: D0, cells: new Map() }))).toEqual({ from: D0, cells: new Map() });
  });

  it('refuses what it cannot trust: another version, cells of the wrong length, not JSON', () => {
    const text = encodeDayCosts({ from: D0, cells: new Map([['acme\u0000total', new Float64Array(24).fill(1.5)]]) });
    const p = JSON.parse(text) as { v: number; hours: number; cells: string[][] };
    expect(decodeDayCosts(JSON.stringify({ ...p, v: DAY_COSTS_FORMAT_VERSION + 1 }))).toHaveProperty('error');
    expect(decodeDayCosts(JSON.stringify({ ...p, hours: 23 }))).toEqual({ error: expect.stringContaining('23 float64') });
    expect(decodeDayCosts(text.slice(0, -2))).toEqual({ error: expect.stringMatching(/^not JSON/) });
  });

  it('will not write cells of different lengths', () => {
    expect(() => encodeDayCosts({ from: D0, cells: new Map([['a', new Float64Array(24)], ['b', new Float64Array(23)]]) })).toThrow(RangeError);
  });
});
