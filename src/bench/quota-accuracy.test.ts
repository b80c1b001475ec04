import { describe, expect, it } from 'vitest';
import { interleavingMetrics, interleavings } from './quota-accuracy.ts';

describe('quota-accuracy interleavings', () => {
  it('gives every order its full length, replicas in range, and the same orders every run', () => {
    const all = interleavings(4, 1000);
    expect(all.map((i) => i.name)).toHaveLength(5);
    for (const il of all) {
      expect(il.order).toHaveLength(1000);
      expect(il.order.every((g) => Number.isInteger(g) && g >= 0 && g < 4)).toBe(true);
    }
    expect(interleavings(4, 1000)).toEqual(all);
  });

  it('reports admitted against L and stranded against N x max_chunk', () => {
    const rows = interleavingMetrics({ name: 'x', admitted: 73, leases: 25, admittedAfterSweep: 100 }, 100, 80);
    expect(rows.map((r) => [r.value, r.baseline ?? null])).toEqual([
      [73, 100],
      [25, null],
      [27, 80],
      [100, 100],
    ]);
  });
});
